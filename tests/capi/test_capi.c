/* The C API from a C11 program: every function, every error path, and results checked against
 * references computed here in double. (The bytes C and C++ produce are compared in test_capi.cpp.) */
#include <qlinear/qlinear.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

/* A call that must succeed. */
#define OK(call)                                                                                      \
  do {                                                                                                \
    qlinear_status s_ = (call);                                                                       \
    if (s_ != QLINEAR_OK) {                                                                           \
      fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call, qlinear_status_name(s_),   \
              qlinear_last_error());                                                                  \
      ++failures;                                                                                     \
    }                                                                                                 \
  } while (0)

/* A call that must fail with `status` and leave a message containing `words`. */
#define FAILS(call, status, words) expect_failure((call), (status), (words), #call, __LINE__)

static void expect_failure(qlinear_status got, qlinear_status want, const char* words, const char* call, int line) {
  if (got != want) {
    fprintf(stderr, "%s:%d: %s -> %s, expected %s (%s)\n", __FILE__, line, call, qlinear_status_name(got),
            qlinear_status_name(want), qlinear_last_error());
    ++failures;
  } else if (strstr(qlinear_last_error(), words) == NULL) {
    fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\"\n", __FILE__, line, call, qlinear_last_error(), words);
    ++failures;
  }
}

/* Deterministic weights in [-1, 1) (a linear congruential generator). */
static void fill(float* v, size_t n, unsigned seed) {
  unsigned s = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

static void test_status_and_version(void) {
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", QLINEAR_VERSION_MAJOR, QLINEAR_VERSION_MINOR, QLINEAR_VERSION_PATCH);
  CHECK(strcmp(qlinear_version(), expected) == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_OK), "ok") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_INVALID_ARGUMENT), "invalid_argument") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_SIZE_MISMATCH), "size_mismatch") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_NON_FINITE), "non_finite") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_UNKNOWN_FORMAT), "unknown_format") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_UNSUPPORTED), "unsupported") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_IO), "io") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_MALFORMED_FILE), "malformed_file") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_INTERNAL), "internal") == 0);
  CHECK(strcmp(qlinear_status_name(QLINEAR_OUT_OF_MEMORY), "out_of_memory") == 0);
  CHECK(strcmp(qlinear_status_name((qlinear_status)99), "unknown") == 0);
}

static void test_formats(void) {
  /* Every number names a format whose name parses back to it. */
  for (int f = 0; f < QLINEAR_FORMAT_COUNT; ++f) {
    const char* name = NULL;
    qlinear_format back = QLINEAR_FORMAT_COUNT;
    qlinear_format_info info;
    double bits = 0;
    OK(qlinear_format_name((qlinear_format)f, &name));
    OK(qlinear_format_parse(name, &back));
    CHECK(back == (qlinear_format)f);
    OK(qlinear_format_get_info((qlinear_format)f, &info));
    OK(qlinear_format_bits_per_weight((qlinear_format)f, &bits));
    CHECK(strcmp(info.name, name) == 0 && info.description != NULL && info.bits_per_weight == bits);
    CHECK(info.block_size >= 1 && info.block_bytes >= 1 && info.row_alignment >= info.block_size);
    CHECK(info.affine == (f == QLINEAR_I8 || f == QLINEAR_I4));
    if (!info.affine) CHECK(bits == info.block_bytes * 8.0 / info.block_size);
  }
  qlinear_format_info q4k;
  OK(qlinear_format_get_info(QLINEAR_Q4_K, &q4k));
  CHECK(strcmp(q4k.name, "q4_K") == 0 && q4k.ggml_type == 12 && q4k.block_size == 256 && q4k.block_bytes == 144);
  qlinear_format f = QLINEAR_F32;
  OK(qlinear_format_parse("iq4_xs", &f));
  CHECK(f == QLINEAR_IQ4_XS);

  const char* name = NULL;
  double bits = 0;
  FAILS(qlinear_format_parse("q3_0", &f), QLINEAR_UNKNOWN_FORMAT, "q4_0");  /* lists the valid names */
  FAILS(qlinear_format_parse(NULL, &f), QLINEAR_INVALID_ARGUMENT, "name is NULL");
  FAILS(qlinear_format_parse("q4_0", NULL), QLINEAR_INVALID_ARGUMENT, "format is NULL");
  FAILS(qlinear_format_name(QLINEAR_FORMAT_COUNT, &name), QLINEAR_UNKNOWN_FORMAT, "not a qlinear_format");
  FAILS(qlinear_format_name((qlinear_format)-1, &name), QLINEAR_UNKNOWN_FORMAT, "-1");
  FAILS(qlinear_format_name(QLINEAR_Q4_0, NULL), QLINEAR_INVALID_ARGUMENT, "name is NULL");
  FAILS(qlinear_format_bits_per_weight((qlinear_format)77, &bits), QLINEAR_UNKNOWN_FORMAT, "77");
  FAILS(qlinear_format_bits_per_weight(QLINEAR_Q4_0, NULL), QLINEAR_INVALID_ARGUMENT, "bits is NULL");
  FAILS(qlinear_format_get_info(QLINEAR_Q4_0, NULL), QLINEAR_INVALID_ARGUMENT, "info is NULL");
  FAILS(qlinear_format_get_info((qlinear_format)18, &q4k), QLINEAR_UNKNOWN_FORMAT, "18");
}

/* Quantize, read back, dequantize and measure, for every format; the stats against ones computed
 * here in double from the dequantized weights. */
static void test_tensors(void) {
  enum { rows = 5, cols = 300 };
  static float w[rows * cols], back[rows * cols];
  fill(w, rows * cols, 1);
  for (int f = 0; f < QLINEAR_FORMAT_COUNT; ++f) {
    qlinear_tensor* t = NULL;
    OK(qlinear_quantize(w, rows * cols, rows, cols, (qlinear_format)f, NULL, &t));
    if (t == NULL) continue;
    qlinear_format got = QLINEAR_FORMAT_COUNT;
    size_t r = 0, c = 0, row_bytes = 0, nbytes = 0, size = 0;
    double bits = 0;
    const void* data = NULL;
    OK(qlinear_tensor_format(t, &got));
    OK(qlinear_tensor_rows(t, &r));
    OK(qlinear_tensor_cols(t, &c));
    OK(qlinear_tensor_row_bytes(t, &row_bytes));
    OK(qlinear_tensor_nbytes(t, &nbytes));
    OK(qlinear_tensor_bits_per_weight(t, &bits));
    OK(qlinear_tensor_data(t, &data, &size));
    CHECK(got == (qlinear_format)f && r == rows && c == cols && size == rows * row_bytes && data != NULL);
    CHECK(nbytes >= size && fabs(bits - nbytes * 8.0 / (rows * cols)) < 1e-12);
    OK(qlinear_dequantize(t, back, rows * cols));

    double se = 0, sw = 0, maxe = 0, dot = 0, sb = 0;
    for (size_t i = 0; i < rows * cols; ++i) {
      const double e = (double)w[i] - back[i];
      se += e * e;
      sw += (double)w[i] * w[i];
      sb += (double)back[i] * back[i];
      dot += (double)w[i] * back[i];
      if (fabs(e) > maxe) maxe = fabs(e);
    }
    qlinear_stats s;
    OK(qlinear_measure(w, rows * cols, t, &s));
    const double rmse = sqrt(se / (rows * cols));
    CHECK(fabs(s.rmse - rmse) <= 1e-9 * (1 + rmse) && s.max_abs == maxe && s.bytes == nbytes);
    CHECK(fabs(s.rel_rmse - rmse / sqrt(sw / (rows * cols))) <= 1e-9);
    CHECK(fabs(s.cosine - dot / sqrt(sw * sb)) <= 1e-9);
    CHECK(fabs(s.compression - 4.0 * rows * cols / nbytes) <= 1e-9);
    if (se > 0) CHECK(fabs(s.sqnr_db - 10 * log10(sw / se)) <= 1e-6);

    if (f != QLINEAR_I8 && f != QLINEAR_I4) {
      /* The stored bytes rebuild the same tensor (as a file's tensor would). */
      qlinear_tensor* copy = NULL;
      const void* copy_data = NULL;
      size_t copy_size = 0;
      OK(qlinear_tensor_from_bytes((qlinear_format)f, rows, cols, data, size, &copy));
      OK(qlinear_tensor_data(copy, &copy_data, &copy_size));
      CHECK(copy_size == size && copy_data != NULL && memcmp(copy_data, data, size) == 0);
      qlinear_tensor_free(copy);
    } else {
      qlinear_tensor* copy = (qlinear_tensor*)&copy;  /* must be reset to NULL */
      FAILS(qlinear_tensor_from_bytes((qlinear_format)f, rows, cols, data, size, &copy), QLINEAR_INVALID_ARGUMENT,
            "affine");
      CHECK(copy == NULL);
    }
    qlinear_tensor_free(t);
  }
}

static void test_tensor_errors(void) {
  float w[64], out[64];
  fill(w, 64, 2);
  qlinear_tensor* t = NULL;
  const void* data = NULL;
  size_t n = 0;
  double d = 0;
  qlinear_format f;
  qlinear_stats s;
  FAILS(qlinear_quantize(w, 63, 2, 32, QLINEAR_Q4_0, NULL, &t), QLINEAR_SIZE_MISMATCH, "63");
  CHECK(t == NULL);
  FAILS(qlinear_quantize(NULL, 64, 2, 32, QLINEAR_Q4_0, NULL, &t), QLINEAR_INVALID_ARGUMENT, "w is NULL");
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_0, NULL, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_quantize(w, 64, 2, 32, (qlinear_format)40, NULL, &t), QLINEAR_UNKNOWN_FORMAT, "40");
  FAILS(qlinear_quantize(w, 0, 0, 32, QLINEAR_Q4_0, NULL, &t), QLINEAR_SIZE_MISMATCH, "empty shape");
  w[37] = NAN;
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q8_0, NULL, &t), QLINEAR_NON_FINITE, "row 1");
  w[37] = 0.5f;

  qlinear_quantize_options o;
  OK(qlinear_quantize_options_init(&o));
  FAILS(qlinear_quantize_options_init(NULL), QLINEAR_INVALID_ARGUMENT, "options is NULL");
  o.importance = NULL;
  o.importance_count = 32;
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_0, &o, &t), QLINEAR_INVALID_ARGUMENT, "importance is NULL");
  o.importance = w;
  o.importance_count = 31;  /* not cols */
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_K, &o, &t), QLINEAR_SIZE_MISMATCH, "31");
  OK(qlinear_quantize_options_init(&o));
  o.method = (qlinear_method)9;
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_0, &o, &t), QLINEAR_INVALID_ARGUMENT, "method 9");
  OK(qlinear_quantize_options_init(&o));
  o.affine.granularity = (qlinear_granularity)7;
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_I8, &o, &t), QLINEAR_INVALID_ARGUMENT, "granularity 7");
  OK(qlinear_quantize_options_init(&o));
  o.affine.clip = (qlinear_clip)5;
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_I8, &o, &t), QLINEAR_INVALID_ARGUMENT, "clip 5");
  OK(qlinear_quantize_options_init(&o));
  o.affine.granularity = QLINEAR_GRANULARITY_GROUP;
  o.affine.group_size = 12;  /* not a multiple of 8 */
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_I4, &o, &t), QLINEAR_INVALID_ARGUMENT, "12");
  OK(qlinear_quantize_options_init(&o));
  o.method = QLINEAR_METHOD_GPTQ;  /* without a calibration */
  FAILS(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_0, &o, &t), QLINEAR_INVALID_ARGUMENT, "alibration");

  FAILS(qlinear_tensor_from_bytes(QLINEAR_Q4_0, 2, 32, w, 35, &t), QLINEAR_SIZE_MISMATCH, "35");
  FAILS(qlinear_tensor_from_bytes(QLINEAR_Q4_0, 2, 32, NULL, 36, &t), QLINEAR_INVALID_ARGUMENT, "data is NULL");
  FAILS(qlinear_tensor_from_bytes(QLINEAR_Q4_0, 2, 32, w, 36, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");

  OK(qlinear_quantize(w, 64, 2, 32, QLINEAR_Q4_0, NULL, &t));
  FAILS(qlinear_dequantize(t, out, 63), QLINEAR_SIZE_MISMATCH, "needs 64");
  FAILS(qlinear_dequantize(t, NULL, 64), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_dequantize(NULL, out, 64), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_measure(w, 65, t, &s), QLINEAR_SIZE_MISMATCH, "65");
  FAILS(qlinear_measure(w, 64, t, NULL), QLINEAR_INVALID_ARGUMENT, "stats is NULL");
  FAILS(qlinear_measure(w, 64, NULL, &s), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_format(NULL, &f), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_format(t, NULL), QLINEAR_INVALID_ARGUMENT, "format is NULL");
  FAILS(qlinear_tensor_rows(NULL, &n), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_rows(t, NULL), QLINEAR_INVALID_ARGUMENT, "rows is NULL");
  FAILS(qlinear_tensor_cols(NULL, &n), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_cols(t, NULL), QLINEAR_INVALID_ARGUMENT, "cols is NULL");
  FAILS(qlinear_tensor_row_bytes(NULL, &n), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_row_bytes(t, NULL), QLINEAR_INVALID_ARGUMENT, "row_bytes is NULL");
  FAILS(qlinear_tensor_nbytes(NULL, &n), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_nbytes(t, NULL), QLINEAR_INVALID_ARGUMENT, "nbytes is NULL");
  FAILS(qlinear_tensor_bits_per_weight(NULL, &d), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_bits_per_weight(t, NULL), QLINEAR_INVALID_ARGUMENT, "bits is NULL");
  FAILS(qlinear_tensor_data(NULL, &data, &n), QLINEAR_INVALID_ARGUMENT, "tensor is NULL");
  FAILS(qlinear_tensor_data(t, NULL, &n), QLINEAR_INVALID_ARGUMENT, "data is NULL");
  FAILS(qlinear_tensor_data(t, &data, NULL), QLINEAR_INVALID_ARGUMENT, "size is NULL");
  qlinear_tensor_free(t);
  qlinear_tensor_free(NULL);

  /* A message stays until the next failure on this thread; successes leave it. */
  FAILS(qlinear_tensor_rows(NULL, &n), QLINEAR_INVALID_ARGUMENT, "qlinear_tensor_rows");
  OK(qlinear_format_bits_per_weight(QLINEAR_Q8_0, &d));
  CHECK(strstr(qlinear_last_error(), "qlinear_tensor_rows") != NULL);
}

/* forward against x · dequantize(W)ᵀ + b in double. The quantized formats first round each block of
 * 32 inputs to q8 (step d = max|x|/127, fp16-rounded: at most 12% more), which moves an output by at
 * most Σ_i |w_i|·d_i/2 (linear.hpp); float sums add n·eps·Σ|x_i·w_i|. */
static void check_forward(const qlinear_layer* layer, const float* x, size_t batch, size_t out_features,
                          size_t in_features, const float* bias, int quantized_input) {
  float* wq = malloc(out_features * in_features * sizeof(float));
  float* y = malloc(batch * out_features * sizeof(float));
  OK(qlinear_layer_dequantize_weights(layer, wq, out_features * in_features));
  OK(qlinear_layer_forward(layer, x, batch * in_features, batch, y, batch * out_features));
  for (size_t b = 0; b < batch; ++b) {
    for (size_t o = 0; o < out_features; ++o) {
      double exact = bias != NULL ? bias[o] : 0, magnitude = 0, input_error = 0;
      for (size_t i = 0; i < in_features; ++i) {
        const double xi = x[b * in_features + i], wi = wq[o * in_features + i];
        exact += xi * wi;
        magnitude += fabs(xi * wi);
        if (quantized_input) {
          double amax = 0;
          const size_t start = i / 32 * 32;
          for (size_t k = start; k < start + 32 && k < in_features; ++k) {
            if (fabs(x[b * in_features + k]) > amax) amax = fabs(x[b * in_features + k]);
          }
          input_error += fabs(wi) * amax / 127 / 2 * 1.12;
        }
      }
      const double tolerance = input_error + in_features * 1.2e-7 * (magnitude + 1);
      const double got = y[b * out_features + o];
      if (!(fabs(got - exact) <= tolerance)) {
        fprintf(stderr, "forward [%zu, %zu]: %g vs %g (tolerance %g)\n", b, o, got, exact, tolerance);
        ++failures;
        b = batch;
        break;
      }
    }
  }
  free(wq);
  free(y);
}

static void test_layers(void) {
  enum { out_features = 7, in_features = 100, batch = 3 };
  static float w[out_features * in_features], x[batch * in_features], bias[out_features];
  static float back[out_features * in_features];
  fill(w, out_features * in_features, 3);
  fill(x, batch * in_features, 4);
  fill(bias, out_features, 5);
  for (int f = 0; f < QLINEAR_FORMAT_COUNT; ++f) {
    qlinear_layer* layer = NULL;
    OK(qlinear_layer_create(w, out_features * in_features, bias, out_features, out_features, in_features,
                            (qlinear_format)f, NULL, &layer));
    if (layer == NULL) continue;
    size_t in = 0, out = 0, nbytes = 0;
    qlinear_format got;
    double ratio = 0;
    OK(qlinear_layer_in_features(layer, &in));
    OK(qlinear_layer_out_features(layer, &out));
    OK(qlinear_layer_format(layer, &got));
    OK(qlinear_layer_compression_ratio(layer, &ratio));
    CHECK(in == in_features && out == out_features && got == (qlinear_format)f);
    const int float_format = f == QLINEAR_F32 || f == QLINEAR_F16 || f == QLINEAR_BF16;
    check_forward(layer, x, batch, out_features, in_features, bias, !float_format);

    /* The layer's weight handle, and a layer rebuilt from it, compute the same. */
    qlinear_tensor* weight = NULL;
    qlinear_layer* again = NULL;
    OK(qlinear_layer_weight(layer, &weight));
    OK(qlinear_tensor_nbytes(weight, &nbytes));
    CHECK(fabs(ratio - 4.0 * out_features * in_features / nbytes) < 1e-9);
    OK(qlinear_dequantize(weight, back, out_features * in_features));
    OK(qlinear_layer_from_tensor(weight, bias, out_features, &again));
    qlinear_tensor_free(weight);  /* the layer keeps the bytes */
    float y1[batch * out_features], y2[batch * out_features];
    OK(qlinear_layer_forward(layer, x, batch * in_features, batch, y1, batch * out_features));
    OK(qlinear_layer_forward(again, x, batch * in_features, batch, y2, batch * out_features));
    for (size_t i = 0; i < batch * out_features; ++i) CHECK(y1[i] == y2[i]);
    check_forward(again, x, batch, out_features, in_features, bias, !float_format);
    qlinear_layer_free(again);
    qlinear_layer_free(layer);
  }

  qlinear_layer* layer = NULL;
  qlinear_tensor* t = NULL;
  float y[batch * out_features];
  size_t n;
  double d;
  qlinear_format f;
  FAILS(qlinear_layer_create(w, out_features * in_features, bias, out_features - 1, out_features, in_features,
                             QLINEAR_Q8_0, NULL, &layer), QLINEAR_SIZE_MISMATCH, "bias");
  CHECK(layer == NULL);
  FAILS(qlinear_layer_create(NULL, out_features * in_features, NULL, 0, out_features, in_features, QLINEAR_Q8_0,
                             NULL, &layer), QLINEAR_INVALID_ARGUMENT, "w is NULL");
  FAILS(qlinear_layer_create(w, out_features * in_features, NULL, 3, out_features, in_features, QLINEAR_Q8_0,
                             NULL, &layer), QLINEAR_INVALID_ARGUMENT, "bias is NULL");
  FAILS(qlinear_layer_create(w, out_features * in_features, NULL, 0, out_features, in_features, QLINEAR_Q8_0,
                             NULL, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_layer_create(w, 10, NULL, 0, out_features, in_features, QLINEAR_Q8_0, NULL, &layer),
        QLINEAR_SIZE_MISMATCH, "10");
  FAILS(qlinear_layer_from_tensor(NULL, NULL, 0, &layer), QLINEAR_INVALID_ARGUMENT, "weight is NULL");
  OK(qlinear_quantize(w, out_features * in_features, out_features, in_features, QLINEAR_Q4_0, NULL, &t));
  FAILS(qlinear_layer_from_tensor(t, bias, 2, &layer), QLINEAR_SIZE_MISMATCH, "bias");
  FAILS(qlinear_layer_from_tensor(t, NULL, 0, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  OK(qlinear_layer_from_tensor(t, NULL, 0, &layer));
  qlinear_tensor_free(t);
  FAILS(qlinear_layer_forward(layer, x, batch * in_features - 1, batch, y, batch * out_features),
        QLINEAR_SIZE_MISMATCH, "");
  FAILS(qlinear_layer_forward(layer, x, batch * in_features, batch, y, batch * out_features + 1),
        QLINEAR_SIZE_MISMATCH, "");
  FAILS(qlinear_layer_forward(layer, NULL, batch * in_features, batch, y, batch * out_features),
        QLINEAR_INVALID_ARGUMENT, "x is NULL");
  FAILS(qlinear_layer_forward(layer, x, batch * in_features, batch, NULL, batch * out_features),
        QLINEAR_INVALID_ARGUMENT, "y is NULL");
  FAILS(qlinear_layer_forward(NULL, x, batch * in_features, batch, y, batch * out_features),
        QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_in_features(NULL, &n), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_in_features(layer, NULL), QLINEAR_INVALID_ARGUMENT, "in_features is NULL");
  FAILS(qlinear_layer_out_features(NULL, &n), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_out_features(layer, NULL), QLINEAR_INVALID_ARGUMENT, "out_features is NULL");
  FAILS(qlinear_layer_format(NULL, &f), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_format(layer, NULL), QLINEAR_INVALID_ARGUMENT, "format is NULL");
  FAILS(qlinear_layer_compression_ratio(NULL, &d), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_compression_ratio(layer, NULL), QLINEAR_INVALID_ARGUMENT, "ratio is NULL");
  FAILS(qlinear_layer_dequantize_weights(layer, back, 5), QLINEAR_SIZE_MISMATCH, "need 700");
  FAILS(qlinear_layer_dequantize_weights(layer, NULL, 700), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_layer_dequantize_weights(NULL, back, 700), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_weight(NULL, &t), QLINEAR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(qlinear_layer_weight(layer, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  qlinear_layer_free(layer);
  qlinear_layer_free(NULL);
}

static void test_calibration(void) {
  enum { in = 64, rows = 40, out = 8 };
  static float x[rows * in], w[out * in], importance[in];
  fill(x, rows * in, 6);
  fill(w, out * in, 7);
  qlinear_calibration *c = NULL, *half = NULL, *other = NULL;
  size_t n = 0;
  uint64_t r = 0;
  OK(qlinear_calibration_new(in, &c));
  OK(qlinear_calibration_add(c, x, rows * in, rows));
  OK(qlinear_calibration_in_features(c, &n));
  OK(qlinear_calibration_rows(c, &r));
  CHECK(n == in && r == rows);
  OK(qlinear_calibration_importance(c, importance, in));
  for (size_t j = 0; j < in; ++j) {
    double sum = 0;
    for (size_t i = 0; i < rows; ++i) sum += (double)x[i * in + j] * x[i * in + j];
    CHECK(fabs(importance[j] - sum / rows) <= 1e-6 * (sum / rows));
  }
  /* Two halves merged hold the same rows. */
  OK(qlinear_calibration_new(in, &half));
  OK(qlinear_calibration_add(half, x, rows / 2 * in, rows / 2));
  OK(qlinear_calibration_new(in, &other));
  OK(qlinear_calibration_add(other, x + rows / 2 * in, rows / 2 * in, rows / 2));
  OK(qlinear_calibration_merge(half, other));
  OK(qlinear_calibration_rows(half, &r));
  CHECK(r == rows);

  /* gptq through the options: a valid tensor of the format, with a smaller output error on these
   * inputs than plain rounding (the reason the method exists; docs/methods.md measures it). */
  qlinear_quantize_options o;
  OK(qlinear_quantize_options_init(&o));
  o.method = QLINEAR_METHOD_GPTQ;
  o.calibration = c;
  qlinear_tensor *g = NULL, *plain = NULL;
  OK(qlinear_quantize(w, out * in, out, in, QLINEAR_Q4_0, &o, &g));
  OK(qlinear_quantize(w, out * in, out, in, QLINEAR_Q4_0, NULL, &plain));
  if (g != NULL && plain != NULL) {
    static float wg[out * in], wp[out * in];
    OK(qlinear_dequantize(g, wg, out * in));
    OK(qlinear_dequantize(plain, wp, out * in));
    double eg = 0, ep = 0;
    for (size_t i = 0; i < rows; ++i) {
      for (size_t o2 = 0; o2 < out; ++o2) {
        double dg = 0, dp = 0;
        for (size_t j = 0; j < in; ++j) {
          dg += (double)x[i * in + j] * ((double)w[o2 * in + j] - wg[o2 * in + j]);
          dp += (double)x[i * in + j] * ((double)w[o2 * in + j] - wp[o2 * in + j]);
        }
        eg += dg * dg;
        ep += dp * dp;
      }
    }
    CHECK(eg < ep);
  }
  qlinear_tensor_free(g);
  qlinear_tensor_free(plain);

  float bad[in];
  fill(bad, in, 8);
  bad[5] = INFINITY;
  qlinear_calibration* wrong = NULL;
  FAILS(qlinear_calibration_new(0, &wrong), QLINEAR_INVALID_ARGUMENT, "");
  CHECK(wrong == NULL);
  FAILS(qlinear_calibration_new(in, NULL), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_calibration_new((size_t)1 << 40, &wrong), QLINEAR_INVALID_ARGUMENT, "overflows");
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer stops the program at an allocation this large */
  /* XᵀX of 2^22 inputs: 128 TiB, more than any machine gives; std::bad_alloc becomes a status. */
  FAILS(qlinear_calibration_new((size_t)1 << 22, &wrong), QLINEAR_OUT_OF_MEMORY, "out of memory");
  CHECK(wrong == NULL);
#endif
  FAILS(qlinear_calibration_add(c, bad, in, 1), QLINEAR_NON_FINITE, "column 5");
  OK(qlinear_calibration_rows(c, &r));
  CHECK(r == rows);  /* unchanged by the failed add */
  FAILS(qlinear_calibration_add(c, x, in + 1, 1), QLINEAR_SIZE_MISMATCH, "");
  FAILS(qlinear_calibration_add(c, NULL, in, 1), QLINEAR_INVALID_ARGUMENT, "x is NULL");
  FAILS(qlinear_calibration_add(NULL, x, in, 1), QLINEAR_INVALID_ARGUMENT, "calibration is NULL");
  OK(qlinear_calibration_new(in / 2, &wrong));
  FAILS(qlinear_calibration_merge(c, wrong), QLINEAR_SIZE_MISMATCH, "");
  FAILS(qlinear_calibration_merge(c, NULL), QLINEAR_INVALID_ARGUMENT, "other is NULL");
  FAILS(qlinear_calibration_merge(NULL, c), QLINEAR_INVALID_ARGUMENT, "calibration is NULL");
  FAILS(qlinear_calibration_in_features(NULL, &n), QLINEAR_INVALID_ARGUMENT, "calibration is NULL");
  FAILS(qlinear_calibration_in_features(c, NULL), QLINEAR_INVALID_ARGUMENT, "in_features is NULL");
  FAILS(qlinear_calibration_rows(NULL, &r), QLINEAR_INVALID_ARGUMENT, "calibration is NULL");
  FAILS(qlinear_calibration_rows(c, NULL), QLINEAR_INVALID_ARGUMENT, "rows is NULL");
  FAILS(qlinear_calibration_importance(c, importance, in - 1), QLINEAR_SIZE_MISMATCH, "");
  FAILS(qlinear_calibration_importance(c, NULL, in), QLINEAR_INVALID_ARGUMENT, "out is NULL");
  FAILS(qlinear_calibration_importance(NULL, importance, in), QLINEAR_INVALID_ARGUMENT, "calibration is NULL");
  /* gptq with the statistics of another width. */
  OK(qlinear_quantize_options_init(&o));
  o.method = QLINEAR_METHOD_GPTQ;
  o.calibration = wrong;
  FAILS(qlinear_quantize(w, out * in, out, in, QLINEAR_Q4_0, &o, &g), QLINEAR_SIZE_MISMATCH, "");
  qlinear_calibration_free(wrong);
  qlinear_calibration_free(other);
  qlinear_calibration_free(half);
  qlinear_calibration_free(c);
  qlinear_calibration_free(NULL);
}

static void test_model(void) {
  const char* input = QLINEAR_DATA_DIR "/ppocrv4_rec_linear.safetensors";
  const char* output = QLINEAR_WORK_DIR "/model_q8_0.gguf";
  mkdir(QLINEAR_WORK_DIR, 0755);
  remove(output);
  qlinear_model_summary summary;
  memset(&summary, 0, sizeof summary);
  OK(qlinear_quantize_model(input, output, "q8_0", NULL, &summary));
  struct stat st;
  CHECK(stat(output, &st) == 0 && (uint64_t)st.st_size >= summary.bytes_out);
  CHECK(summary.tensors > 0 && summary.quantized > 0 && summary.quantized <= summary.tensors);
  CHECK(summary.bytes_out < summary.bytes_in && summary.weights > 0);

  /* A mix with rules and options, into a second file. */
  qlinear_model_options o;
  OK(qlinear_model_options_init(&o));
  CHECK(o.keep_1d == 1 && o.method == QLINEAR_METHOD_REFERENCE && o.damping == 0.01 && o.affine.symmetric == 1);
  const char* rules[] = {"*.w_0=q4_0"};
  o.rules = rules;
  o.rule_count = 1;
  o.fallback = "f16";
  OK(qlinear_quantize_model(input, QLINEAR_WORK_DIR "/model_rules.gguf", "Q4_K_M", &o, NULL));

  FAILS(qlinear_quantize_model(QLINEAR_WORK_DIR "/missing.safetensors", output, "q8_0", NULL, NULL), QLINEAR_IO,
        "missing.safetensors");
  /* Not a model: this program's own source. */
  FAILS(qlinear_quantize_model(__FILE__, QLINEAR_WORK_DIR "/bad.gguf", "q8_0", NULL, NULL), QLINEAR_MALFORMED_FILE,
        "test_capi.c");
  FAILS(qlinear_quantize_model(input, output, "q3_0", NULL, NULL), QLINEAR_UNKNOWN_FORMAT, "q3_0");
  FAILS(qlinear_quantize_model(NULL, output, "q8_0", NULL, NULL), QLINEAR_INVALID_ARGUMENT, "input is NULL");
  FAILS(qlinear_quantize_model(input, NULL, "q8_0", NULL, NULL), QLINEAR_INVALID_ARGUMENT, "output is NULL");
  FAILS(qlinear_quantize_model(input, output, NULL, NULL, NULL), QLINEAR_INVALID_ARGUMENT, "type is NULL");
  OK(qlinear_model_options_init(&o));
  o.method = QLINEAR_METHOD_GPTQ;
  FAILS(qlinear_quantize_model(input, output, "q4_0", &o, NULL), QLINEAR_INVALID_ARGUMENT, "calibration");
  OK(qlinear_model_options_init(&o));
  o.imatrix = QLINEAR_WORK_DIR "/missing.imatrix";
  FAILS(qlinear_quantize_model(input, output, "q4_0", &o, NULL), QLINEAR_IO, "missing.imatrix");
  OK(qlinear_model_options_init(&o));
  const char* bad_rules[] = {"no equals sign"};
  o.rules = bad_rules;
  o.rule_count = 1;
  FAILS(qlinear_quantize_model(input, output, "q4_0", &o, NULL), QLINEAR_INVALID_ARGUMENT, "no equals sign");
  FAILS(qlinear_model_options_init(NULL), QLINEAR_INVALID_ARGUMENT, "options is NULL");
}

static void test_threads(void) {
  size_t n = 0;
  OK(qlinear_set_num_threads(3));
  OK(qlinear_get_num_threads(&n));
  CHECK(n == 3);
  OK(qlinear_set_num_threads(0));
  OK(qlinear_get_num_threads(&n));
  CHECK(n >= 1);
  FAILS(qlinear_get_num_threads(NULL), QLINEAR_INVALID_ARGUMENT, "count is NULL");
  FAILS(qlinear_set_num_threads(100000), QLINEAR_INVALID_ARGUMENT, "");
}

int main(void) {
  test_status_and_version();
  test_formats();
  test_tensors();
  test_tensor_errors();
  test_layers();
  test_calibration();
  test_model();
  test_threads();
  if (failures != 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed\n");
  return 0;
}
