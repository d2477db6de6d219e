#pragma once
// Shared helpers of the test suite: data files, random weights, double-precision references.

#include <qlinear/qlinear.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace qlinear::test {

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

}  // namespace qlinear::test
