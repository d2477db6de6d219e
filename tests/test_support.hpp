#pragma once
// Shared helpers of the test suite: data files, random weights, double-precision references.

#include "formats/blocks.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"
#include "core/half.hpp"

#include <qlinear/qlinear.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace qlinear::test {

// Runs fn, which must throw qlinear::Error; returns the error's code (ErrorCode::internal, and a
// test failure, when nothing is thrown) and stores its message where asked.
template <typename Fn>
ErrorCode error_code_of(Fn&& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorCode::internal;
}

// Runs fn, which must throw qlinear::Error with the expected code; returns its message.
template <typename Fn>
std::string error_message(Fn&& fn, ErrorCode expected) {
  std::string message;
  const ErrorCode code = error_code_of(std::forward<Fn>(fn), &message);
  EXPECT_EQ(code, expected) << message;
  return message;
}

inline std::string test_data(const std::string& name) { return std::string(QLINEAR_TEST_DATA_DIR) + "/" + name; }
inline std::string repo_data(const std::string& name) { return std::string(QLINEAR_DATA_DIR) + "/" + name; }

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

inline std::vector<float> gaussian(std::size_t n, std::uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// y = x · Wᵀ + b in double, W given as floats [out, in].
inline std::vector<double> reference_forward(const std::vector<float>& x, std::size_t batch,
                                             const std::vector<float>& w, std::size_t out,
                                             std::size_t in, const std::vector<float>& bias) {
  std::vector<double> y(batch * out);
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out; ++r) {
      double s = bias.empty() ? 0.0 : bias[r];
      for (std::size_t c = 0; c < in; ++c) s += static_cast<double>(x[b * in + c]) * w[r * in + c];
      y[b * out + r] = s;
    }
  }
  return y;
}

// Σ_c |x_bc · w_rc| + |b_r| for each output: the scale of the rounding error a float dot product of
// length K can make.
inline std::vector<double> magnitude_forward(const std::vector<float>& x, std::size_t batch,
                                             const std::vector<float>& w, std::size_t out,
                                             std::size_t in, const std::vector<float>& bias) {
  std::vector<double> m(batch * out);
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out; ++r) {
      double s = bias.empty() ? 0.0 : std::fabs(bias[r]);
      for (std::size_t c = 0; c < in; ++c) s += std::fabs(static_cast<double>(x[b * in + c]) * w[r * in + c]);
      m[b * out + r] = s;
    }
  }
  return m;
}

// The classic bound on a float dot product of K terms, any summation order:
// |computed − exact| <= γ_(K+1) · Σ|x·w| with γ_n = n·u / (1 − n·u) and u = 2^-24, plus one final rounding.
inline double dot_tolerance(std::size_t k, double magnitude) {
  const double u = std::ldexp(1.0, -24);
  const double n = static_cast<double>(k + 2);
  return n * u / (1 - n * u) * magnitude;
}

// Whether forward() quantizes the activations of a layer in this format (every format but the
// float ones; see linear.hpp).
inline bool quantizes_activations(Format f) { return f != Format::f32 && f != Format::f16 && f != Format::bf16; }

// q8(x): each row of x quantized per block of 32 by ggml's q8_0 reference quantizer (zero-padded)
// and dequantized. Every value d·q is exact in float (11 × 8 significant bits).
inline std::vector<float> q8_activations(const std::vector<float>& x, std::size_t batch, std::size_t in) {
  const std::size_t padded = (in + 31) / 32 * 32;
  std::vector<float> out(x.size()), row(padded), restored(padded);
  std::vector<formats::block_q8_0> blocks(padded / 32);
  for (std::size_t b = 0; b < batch; ++b) {
    std::fill(row.begin(), row.end(), 0.0f);
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(b * in), in, row.begin());
    formats::quantize_row_q8_0_ref(row.data(), blocks.data(), padded);
    formats::dequantize_row_q8_0_ref(blocks.data(), restored.data(), padded);
    std::copy_n(restored.begin(), in, out.begin() + static_cast<std::ptrdiff_t>(b * in));
  }
  return out;
}

// The activations forward() multiplies W with: q8(x) or x itself.
inline std::vector<float> effective_input(Format f, const std::vector<float>& x, std::size_t batch,
                                          std::size_t in) {
  return quantizes_activations(f) ? q8_activations(x, batch, in) : x;
}

// |min| of the block (or K-quant sub-block) holding each weight: q4_1 and q5_1 store w = d·q + m,
// q2_K, q4_K and q5_K w = d·sc·q − dmin·m per sub-block, and that min is dmin·m; 0 for other formats.
inline bool has_block_mins(Format f) {
  return f == Format::q4_1 || f == Format::q5_1 || f == Format::q2_K || f == Format::q4_K || f == Format::q5_K;
}

inline std::vector<double> block_min_magnitudes(const QuantizedTensor& q) {
  std::vector<double> m(q.rows() * q.cols(), 0.0);
  const Format f = q.format();
  if (!has_block_mins(f)) return m;
  for (std::size_t r = 0; r < q.rows(); ++r) {
    const std::byte* row = q.row_data(r).data();
    for (std::size_t c = 0; c < q.cols(); ++c) {
      std::uint16_t half;
      double sub_min = 1.0;
      if (f == Format::q4_1 || f == Format::q5_1) {  // m is the second fp16 of both block layouts
        const std::size_t block_bytes = f == Format::q4_1 ? sizeof(formats::block_q4_1) : sizeof(formats::block_q5_1);
        std::memcpy(&half, row + (c / 32) * block_bytes + 2, sizeof half);
      } else if (f == Format::q2_K) {
        const auto& blk = reinterpret_cast<const formats::block_q2_K*>(row)[c / 256];
        half = blk.dmin;
        sub_min = blk.scales[(c % 256) / 16] >> 4;
      } else {
        const std::uint16_t* dmin = nullptr;
        const std::uint8_t* scales = nullptr;
        if (f == Format::q4_K) {
          const auto& blk = reinterpret_cast<const formats::block_q4_K*>(row)[c / 256];
          dmin = &blk.dmin, scales = blk.scales;
        } else {
          const auto& blk = reinterpret_cast<const formats::block_q5_K*>(row)[c / 256];
          dmin = &blk.dmin, scales = blk.scales;
        }
        half = *dmin;
        sub_min = formats::k_scale_min(scales, static_cast<int>((c % 256) / 32)).min;
      }
      m[r * q.cols() + c] = std::fabs(core::fp16_to_fp32(half) * sub_min);
    }
  }
  return m;
}

// The float roundings a quantized forward() can make per output: a kernel sums one product per
// block-and-scale segment (two per block with a min) and scales each, and the reference's
// dequantized weights are themselves rounded once (the K-quants' and i-quants' too: d·sc, dmin·m
// and d·sc·q are exact in float for every format but q6_K, whose d·sc·q rounds once, and the final
// subtraction of the min rounds once). A K-quant kernel folds the integer sub-block scales into
// one exact integer sum per block of 32 (and one for the mins), so it has the same count of terms.
// Bound: γ_(n+4) · Σ|terms| + u · Σ|x̂·ŵ| + bias, where a term's magnitude is at most |x̂|·(|ŵ| + 2|m|) summed over its inputs and n is the count of
// terms (γ's extra 4 cover the two products per term, the final scale and the bias).
struct ForwardCheck {
  std::vector<double> expected, tolerance;
};

inline ForwardCheck check_forward(const QuantizedLinear& layer, const std::vector<float>& x, std::size_t batch) {
  const std::size_t out = layer.out_features(), in = layer.in_features();
  const Format f = layer.format();
  const std::vector<float> w = layer.dequantize_weights();
  const std::vector<float> bias(layer.bias().begin(), layer.bias().end());
  const std::vector<float> xe = effective_input(f, x, batch, in);
  ForwardCheck check;
  check.expected = reference_forward(xe, batch, w, out, in, bias);
  check.tolerance.resize(check.expected.size());
  const std::vector<double> mins = block_min_magnitudes(layer.weight());
  const double u = std::ldexp(1.0, -24);
  const std::size_t blocks = (in + 31) / 32;
  std::size_t terms = in;  // the float formats: one product per input
  if (quantizes_activations(f)) {
    std::size_t segments = 1;  // segments of one block of 32 that share a scale
    if (format_info(f).affine && layer.weight().affine_options().granularity == AffineOptions::Granularity::group) {
      segments = 32 / std::gcd<std::size_t>(layer.weight().group_size(), 32);
    }
    const bool has_min = has_block_mins(f);
    terms = blocks * segments * (has_min ? 2 : 1) + 1;
  }
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out; ++r) {
      double terms_magnitude = bias.empty() ? 0.0 : std::fabs(bias[r]), product = 0.0;
      for (std::size_t c = 0; c < in; ++c) {
        const double xv = std::fabs(static_cast<double>(xe[b * in + c]));
        const double wv = std::fabs(static_cast<double>(w[r * in + c]));
        terms_magnitude += xv * (wv + 2 * mins[r * in + c]);
        product += xv * wv;
      }
      const double n = static_cast<double>(terms + 4);
      const double rounding = quantizes_activations(f) ? u * product : 0.0;
      check.tolerance[b * out + r] = n * u / (1 - n * u) * terms_magnitude + rounding;
    }
  }
  return check;
}

}  // namespace qlinear::test
