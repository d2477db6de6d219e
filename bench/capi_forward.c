/* The C side of qlinear_capi_bench (capi_bench.cpp): forward passes through the C API, timed in a
 * translation unit compiled as C11, so the figure is what a C caller pays (the status code, the
 * handle, the size checks) and no C++ caller's inlining can hide any of it. */

#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */

#include "capi_forward.h"

#include <time.h>

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double capi_time_forward(const qlinear_layer* layer, const float* x, size_t x_count, size_t batch, float* y,
                         size_t y_count, size_t calls) {
  const double start = now_seconds();
  for (size_t i = 0; i < calls; ++i) {
    if (qlinear_layer_forward(layer, x, x_count, batch, y, y_count) != QLINEAR_OK) return -1.0;
  }
  return now_seconds() - start;
}
