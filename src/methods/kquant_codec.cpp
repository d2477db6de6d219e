// The K-quant and iq4 layouts, their nearest level and their block bytes (see kquant_codec.hpp);
// the search is in kquant_search.cpp.

#include "methods/kquant_codec.hpp"

#include "core/half.hpp"
#include "formats/blocks.hpp"
#include "formats/iq4_search.hpp"
#include "formats/kquant_scales.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::methods {
namespace {

using namespace formats;

float level_of(const KQuantLayout& l, int code) noexcept {
  return l.grid ? static_cast<float>(kIq4nlValues[code]) : static_cast<float>(code - l.level_offset);
}

// The code of the level nearest 0 (the one a block of zero scale stores; iq4: grid value 1).
int zero_code(const KQuantLayout& l) noexcept { return l.grid ? 8 : std::clamp(l.level_offset, 0, l.code_max); }

void put16(std::byte* out, std::uint16_t v) noexcept { std::memcpy(out, &v, sizeof v); }
std::uint16_t get16(const std::byte* in) noexcept {
  std::uint16_t v;
  std::memcpy(&v, in, sizeof v);
  return v;
}

// Two 4-bit codes per byte: element i in the low nibble of byte i % 16 … as iq4 stores each 32.
void pack_nibbles_iq4(const std::uint8_t* codes, std::size_t n, std::uint8_t* qs) noexcept {
  for (std::size_t b = 0; b < n / 32; ++b, codes += 32, qs += 16) {
    for (std::size_t j = 0; j < 16; ++j) qs[j] = static_cast<std::uint8_t>(codes[j] | (codes[j + 16] << 4));
  }
}

}  // namespace

std::optional<KQuantLayout> kquant_layout(Format format) noexcept {
  switch (format) {
    case Format::q2_K: return KQuantLayout{format, 256, 16, 3, 0, false, 0, 15, true, 15, sizeof(block_q2_K)};
    case Format::q3_K: return KQuantLayout{format, 256, 16, 7, 4, false, -32, 31, false, 0, sizeof(block_q3_K)};
    case Format::q4_K: return KQuantLayout{format, 256, 32, 15, 0, false, 0, 63, true, 63, sizeof(block_q4_K)};
    case Format::q5_K: return KQuantLayout{format, 256, 32, 31, 0, false, 0, 63, true, 63, sizeof(block_q5_K)};
    case Format::q6_K: return KQuantLayout{format, 256, 16, 63, 32, false, -128, 127, false, 0, sizeof(block_q6_K)};
    case Format::iq4_nl: return KQuantLayout{format, 32, 32, 15, 0, true, 1, 1, false, 0, sizeof(block_iq4_nl)};
    case Format::iq4_xs: return KQuantLayout{format, 256, 32, 15, 0, true, -32, 31, false, 0, sizeof(block_iq4_xs)};
    default: return std::nullopt;
  }
}

template <std::size_t S>
void set_sub_values(const KQuantLayout& l, KQuantParams<S>& p) noexcept {
  const float d = core::fp16_to_fp32(p.d16), dmin = core::fp16_to_fp32(p.dmin16);
  for (std::size_t j = 0; j < S; ++j) {
    p.a[j] = d * static_cast<float>(p.s[j]);
    p.b[j] = l.has_min ? dmin * static_cast<float>(p.m[j]) : 0.0f;
  }
}

float code_value(const KQuantLayout& l, float a, float b, int code) noexcept {
  // b = 0 without a min: a·L − 0 is a·L exactly, the dequantizer's value.
  return a * level_of(l, code) - b;
}

int nearest_code(const KQuantLayout& l, float a, float b, float x) noexcept {
  if (!(a != 0.0f) || !std::isfinite(a)) return zero_code(l);
  float t = (x + b) / a;
  t = std::clamp(t, -1048576.0f, 1048576.0f);  // far outside either way; NaN cannot occur (finite inputs)
  int q;
  if (l.grid) {
    q = iq4::nearest_grid_index(t);
  } else {
    q = std::clamp(static_cast<int>(std::nearbyint(t)) + l.level_offset, 0, l.code_max);
  }
  // The neighbour on t's other side: the division rounds, so near a midpoint the level it points to
  // may not hold the nearest value; the values decide, in double (as the error is measured).
  const int other = t > level_of(l, q) ? q + 1 : q - 1;
  if (other >= 0 && other <= l.code_max) {
    const double here = std::fabs(static_cast<double>(x) - code_value(l, a, b, q));
    const double there = std::fabs(static_cast<double>(x) - code_value(l, a, b, other));
    if (there < here) q = other;
  }
  return q;
}

namespace {

// The sub-codes of a block, up to 16 (one per sub-block), as one shape for every format.
struct Header {
  std::uint16_t d16 = 0, dmin16 = 0;
  std::int8_t s[16] = {};
  std::uint8_t m[16] = {};
};

void encode_block(const KQuantLayout& l, const Header& p, const std::uint8_t* c, std::byte* out) noexcept {
  switch (l.format) {
    case Format::q2_K: {
      block_q2_K y{};
      for (std::size_t j = 0; j < 16; ++j) y.scales[j] = static_cast<std::uint8_t>(p.s[j] | (p.m[j] << 4));
      for (int half = 0; half < 2; ++half) {
        const std::uint8_t* h = c + 128 * half;
        for (int i = 0; i < 32; ++i) {
          y.qs[32 * half + i] =
              static_cast<std::uint8_t>(h[i] | (h[i + 32] << 2) | (h[i + 64] << 4) | (h[i + 96] << 6));
        }
      }
      y.d = p.d16, y.dmin = p.dmin16;
      std::memcpy(out, &y, sizeof y);
      return;
    }
    case Format::q3_K: {
      block_q3_K y{};
      std::int8_t biased[16];
      for (std::size_t j = 0; j < 16; ++j) biased[j] = static_cast<std::int8_t>(p.s[j] + 32);
      pack_q3_K_scales(biased, y.scales);
      for (int i = 0; i < 256; ++i) {  // the third bit of element i: bit i / 32 of hmask[i % 32]
        if (c[i] > 3) y.hmask[i % 32] = static_cast<std::uint8_t>(y.hmask[i % 32] | (1u << (i / 32)));
      }
      for (int half = 0; half < 2; ++half) {
        const std::uint8_t* h = c + 128 * half;
        for (int i = 0; i < 32; ++i) {
          y.qs[32 * half + i] = static_cast<std::uint8_t>((h[i] & 3) | ((h[i + 32] & 3) << 2) |
                                                          ((h[i + 64] & 3) << 4) | ((h[i + 96] & 3) << 6));
        }
      }
      y.d = p.d16;
      std::memcpy(out, &y, sizeof y);
      return;
    }
    case Format::q4_K:
    case Format::q5_K: {
      std::uint8_t scales[8], mins[8], packed[12];
      for (std::size_t j = 0; j < 8; ++j) scales[j] = static_cast<std::uint8_t>(p.s[j]), mins[j] = p.m[j];
      pack_k_scale_min(packed, scales, mins);
      put16(out, p.d16);
      put16(out + 2, p.dmin16);
      std::memcpy(out + 4, packed, 12);
      // Per pair of sub-blocks 2k, 2k+1: low nibbles and high nibbles of 32 bytes (q5_K: the fifth
      // bit of sub-block j, element i, in bit j of qh[i]).
      std::uint8_t qs[128], qh[32] = {};
      for (int k = 0; k < 4; ++k) {
        const std::uint8_t* h = c + 64 * k;
        for (int i = 0; i < 32; ++i) {
          qs[32 * k + i] = static_cast<std::uint8_t>((h[i] & 15) | ((h[i + 32] & 15) << 4));
          qh[i] = static_cast<std::uint8_t>(qh[i] | ((h[i] >> 4) << (2 * k)) | ((h[i + 32] >> 4) << (2 * k + 1)));
        }
      }
      if (l.format == Format::q4_K) {
        std::memcpy(out + 16, qs, 128);
      } else {
        std::memcpy(out + 16, qh, 32);
        std::memcpy(out + 48, qs, 128);
      }
      return;
    }
    case Format::q6_K: {
      block_q6_K y{};
      for (int half = 0; half < 2; ++half) {
        const std::uint8_t* q = c + 128 * half;
        std::uint8_t* ql = y.ql + 64 * half;
        std::uint8_t* qh = y.qh + 32 * half;
        for (int i = 0; i < 32; ++i) {
          ql[i] = static_cast<std::uint8_t>((q[i] & 15) | ((q[i + 64] & 15) << 4));
          ql[i + 32] = static_cast<std::uint8_t>((q[i + 32] & 15) | ((q[i + 96] & 15) << 4));
          qh[i] = static_cast<std::uint8_t>((q[i] >> 4) | ((q[i + 32] >> 4) << 2) | ((q[i + 64] >> 4) << 4) |
                                            ((q[i + 96] >> 4) << 6));
        }
      }
      for (std::size_t j = 0; j < 16; ++j) y.scales[j] = p.s[j];
      y.d = p.d16;
      std::memcpy(out, &y, sizeof y);
      return;
    }
    case Format::iq4_nl: {
      block_iq4_nl y{};
      y.d = p.d16;
      pack_nibbles_iq4(c, 32, y.qs);
      std::memcpy(out, &y, sizeof y);
      return;
    }
    case Format::iq4_xs: {
      block_iq4_xs y{};
      y.d = p.d16;
      for (std::size_t j = 0; j < 8; ++j) {
        const auto ls = static_cast<unsigned>(p.s[j] + 32);
        y.scales_l[j / 2] = static_cast<std::uint8_t>(y.scales_l[j / 2] | ((ls & 15u) << (4 * (j % 2))));
        y.scales_h = static_cast<std::uint16_t>(y.scales_h | ((ls >> 4) << (2 * j)));
      }
      pack_nibbles_iq4(c, 256, y.qs);
      std::memcpy(out, &y, sizeof y);
      return;
    }
    default: return;
  }
}

Header decode_header(const KQuantLayout& l, const std::byte* in) noexcept {
  Header p;
  switch (l.format) {
    case Format::q2_K: {
      block_q2_K y;
      std::memcpy(&y, in, sizeof y);
      for (std::size_t j = 0; j < 16; ++j) {
        p.s[j] = static_cast<std::int8_t>(y.scales[j] & 15), p.m[j] = y.scales[j] >> 4;
      }
      p.d16 = y.d, p.dmin16 = y.dmin;
      break;
    }
    case Format::q3_K: {
      block_q3_K y;
      std::memcpy(&y, in, sizeof y);
      const std::array<std::int8_t, 16> biased = unpack_q3_K_scales(y.scales);
      for (std::size_t j = 0; j < 16; ++j) p.s[j] = static_cast<std::int8_t>(biased[j] - 32);
      p.d16 = y.d;
      break;
    }
    case Format::q4_K:
    case Format::q5_K: {
      p.d16 = get16(in), p.dmin16 = get16(in + 2);
      std::uint8_t packed[12];
      std::memcpy(packed, in + 4, 12);
      for (std::size_t j = 0; j < 8; ++j) {
        const ScaleMin sm = k_scale_min(packed, static_cast<int>(j));
        p.s[j] = static_cast<std::int8_t>(sm.scale), p.m[j] = static_cast<std::uint8_t>(sm.min);
      }
      break;
    }
    case Format::q6_K: {
      block_q6_K y;
      std::memcpy(&y, in, sizeof y);
      for (std::size_t j = 0; j < 16; ++j) p.s[j] = y.scales[j];
      p.d16 = y.d;
      break;
    }
    case Format::iq4_nl:
      p.d16 = get16(in);
      p.s[0] = 1;
      break;
    case Format::iq4_xs: {
      block_iq4_xs y;
      std::memcpy(&y, in, sizeof y);
      for (std::size_t j = 0; j < 8; ++j) {
        const int low = (y.scales_l[j / 2] >> (4 * (j % 2))) & 15, high = (y.scales_h >> (2 * j)) & 3;
        p.s[j] = static_cast<std::int8_t>((low | (high << 4)) - 32);
      }
      p.d16 = y.d;
      break;
    }
    default: break;
  }
  return p;
}

}  // namespace

template <std::size_t S>
void encode_kquant_block(const KQuantLayout& l, const KQuantParams<S>& p, const std::uint8_t* codes,
                         std::byte* out) noexcept {
  Header h;
  h.d16 = p.d16, h.dmin16 = p.dmin16;
  std::copy(p.s, p.s + S, h.s);
  std::copy(p.m, p.m + S, h.m);
  encode_block(l, h, codes, out);
}

template <std::size_t S>
KQuantParams<S> decode_kquant_params(const KQuantLayout& l, const std::byte* in) noexcept {
  const Header h = decode_header(l, in);
  KQuantParams<S> p;
  p.d16 = h.d16, p.dmin16 = h.dmin16;
  std::copy(h.s, h.s + S, p.s);
  std::copy(h.m, h.m + S, p.m);
  set_sub_values(l, p);
  return p;
}

template <std::size_t S>
double kquant_block_error(const KQuantLayout& l, const KQuantParams<S>& p, const float* x, const float* importance) {
  double e = 0.0;
  for (std::size_t j = 0; j < S; ++j) {
    for (std::size_t i = j * l.sub; i < (j + 1) * l.sub; ++i) {
      const double diff =
          static_cast<double>(x[i]) - code_value(l, p.a[j], p.b[j], nearest_code(l, p.a[j], p.b[j], x[i]));
      e += (importance ? static_cast<double>(importance[i]) : 1.0) * diff * diff;
    }
  }
  return e;
}

#define QLINEAR_KQUANT_INSTANTIATE(S)                                                                             \
  template void set_sub_values<S>(const KQuantLayout&, KQuantParams<S>&) noexcept;                               \
  template void encode_kquant_block<S>(const KQuantLayout&, const KQuantParams<S>&, const std::uint8_t*,         \
                                       std::byte*) noexcept;                                                     \
  template KQuantParams<S> decode_kquant_params<S>(const KQuantLayout&, const std::byte*) noexcept;              \
  template double kquant_block_error<S>(const KQuantLayout&, const KQuantParams<S>&, const float*, const float*);
QLINEAR_KQUANT_INSTANTIATE(1)
QLINEAR_KQUANT_INSTANTIATE(8)
QLINEAR_KQUANT_INSTANTIATE(16)
#undef QLINEAR_KQUANT_INSTANTIATE

}  // namespace qlinear::methods
