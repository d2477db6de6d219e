/* Quantizes a small layer through the installed C header and shared library and checks one
 * product: a C program, compiled as C. */
#include <qlinear/qlinear.h>

#include <stdio.h>

int main(void) {
  const float w[6] = {1, 2, 3, 4, 5, 6}, bias[2] = {0.5f, -0.5f}, x[3] = {1, 1, 1};
  float y[2] = {0, 0};
  qlinear_layer* layer = NULL;
  if (qlinear_layer_create(w, 6, bias, 2, 2, 3, QLINEAR_F16, NULL, &layer) != QLINEAR_OK ||
      qlinear_layer_forward(layer, x, 3, 1, y, 2) != QLINEAR_OK) {
    fprintf(stderr, "qlinear: %s\n", qlinear_last_error());
    return 1;
  }
  qlinear_layer_free(layer);
  qlinear_format format;
  const qlinear_status unknown = qlinear_format_parse("q3_0", &format);
  printf("qlinear %s from C: y = [%g, %g]; \"q3_0\": %s\n", qlinear_version(), y[0], y[1],
         qlinear_status_name(unknown));
  return y[0] == 6.5f && y[1] == 14.5f && unknown == QLINEAR_UNKNOWN_FORMAT ? 0 : 1;
}
