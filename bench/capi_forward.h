#ifndef QLINEAR_BENCH_CAPI_FORWARD_H
#define QLINEAR_BENCH_CAPI_FORWARD_H

#include <qlinear/qlinear.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds that `calls` calls of qlinear_layer_forward take; -1 when one fails. */
double capi_time_forward(const qlinear_layer* layer, const float* x, size_t x_count, size_t batch, float* y,
                         size_t y_count, size_t calls);

#ifdef __cplusplus
}
#endif

#endif
