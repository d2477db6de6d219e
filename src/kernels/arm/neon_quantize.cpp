// The neon level's row conversions (ARMv8.0 Advanced SIMD; compiled with -march=armv8-a): f16
// with the native conversions (fcvtn / fcvtl), bf16 both ways, the activation quantizer of the
// integer kernels, the range check quantize() makes on every weight, and q8_0 / q4_0 both ways.
// Each does the reference's float operations in the same order (the library builds with
// -ffp-contract=off, and nothing here is fused), four lanes at a time, so the bits are identical:
// test_kernels checks the quantizers byte for byte, test_half the f16 conversions over every half
// and NaN.
//
// The native f16 conversions round to nearest even under the default FPCR (RMode 0, FZ 0), which
// Linux gives every thread; they differ from core/half.hpp only on NaNs, which are patched: the
// reference narrows every NaN to the quiet NaN 0x7e00 (sign kept, payload dropped), where fcvtn
// keeps the payload's top bits, and widens a signalling half NaN as it is, where fcvtl sets the
// quiet bit.

#include "formats/blocks.hpp"
#include "kernels/arm/neon_float.hpp"

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::neon {
namespace {

using formats::block_q4_0;
using formats::block_q8_0;

// 4 floats → 4 halves, core::fp32_to_fp16's bits.
inline uint16x4_t to_half4(float32x4_t v) {
  const uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
  const uint16x4_t nan =
      vorr_u16(vand_u16(vshrn_n_u32(vreinterpretq_u32_f32(v), 16), vdup_n_u16(0x8000)), vdup_n_u16(0x7e00));
  const uint16x4_t is_nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
  return vbsl_u16(is_nan, nan, h);
}

// 4 halves → 4 floats, core::fp16_to_fp32's bits.
inline float32x4_t from_half4(uint16x4_t h) {
  const float32x4_t f = vcvt_f32_f16(vreinterpret_f16_u16(h));
  const uint32x4_t wide = vmovl_u16(h);
  const uint32x4_t nan = vorrq_u32(vorrq_u32(vshlq_n_u32(vandq_u32(wide, vdupq_n_u32(0x8000)), 16),
                                             vdupq_n_u32(0x7f800000)),
                                   vshlq_n_u32(vandq_u32(wide, vdupq_n_u32(0x3ff)), 13));
  const uint32x4_t is_nan = vmvnq_u32(vceqq_f32(f, f));
  return vbslq_f32(is_nan, vreinterpretq_f32_u32(nan), f);
}

inline std::uint16_t to_half(float f) { return vget_lane_u16(to_half4(vdupq_n_f32(f)), 0); }
inline float from_half(std::uint16_t h) { return vgetq_lane_f32(from_half4(vdup_n_u16(h)), 0); }

// formats::inverse_scale, restated so that this file calls no inline function of a shared header:
// 1/d, or 0 when d is 0 or so small that 1/d is not finite.
inline float inverse_scale(float d) {
  const float inverse = 1.0f / d;
  return __builtin_isfinite(inverse) ? inverse : 0.0f;
}

struct Floats32 {
  float32x4_t v[8];
};

inline Floats32 load32(const float* x) {
  Floats32 f;
  for (int i = 0; i < 8; ++i) f.v[i] = vld1q_f32(x + 4 * i);
  return f;
}

// max |x| as the reference's fmax scan from 0 finds it: fmaxnm, like fmax, passes over NaNs, and
// the maximum of exact values is the same in any order.
inline float abs_max(const Floats32& x) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int i = 0; i < 8; ++i) m = vmaxnmq_f32(m, vabsq_f32(x.v[i]));
  return vmaxnmvq_f32(m);
}

// The first element of largest magnitude, as the reference's strict `amax < |x|` scan finds it;
// 0.0f when all are zero. Branch-free: the lowest index among the lanes equal to the maximum.
inline float signed_extreme(const float* x, const Floats32& v) {
  const float amax = abs_max(v);
  if (amax == 0.0f) return 0.0f;
  const float32x4_t top = vdupq_n_f32(amax);
  const std::uint32_t iota_init[4] = {0, 1, 2, 3};
  const uint32x4_t iota = vld1q_u32(iota_init), none = vdupq_n_u32(32);
  uint32x4_t first = none;
  for (int i = 0; i < 8; ++i) {
    const uint32x4_t index = vaddq_u32(iota, vdupq_n_u32(4u * static_cast<std::uint32_t>(i)));
    first = vminq_u32(first, vbslq_u32(vceqq_f32(vabsq_f32(v.v[i]), top), index, none));
  }
  return x[vminvq_u32(first)];
}

// Four vectors of int32 (elements 16h..16h+15) narrowed to 16 bytes; the values fit in 8 bits.
inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  return vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b))),
                     vmovn_s16(vcombine_s16(vmovn_s32(c), vmovn_s32(d))));
}

struct Q8 {
  float d;            // unrounded
  int8x16_t codes[2];  // elements 0..15, 16..31
  std::int32_t first_half, sum;
};

// q8_0's block: d = max|x| / 127, q = round(x · (1/d)) half away from zero (fcvtas: roundf's rule).
inline Q8 quantize_q8(const float* x) {
  const Floats32 v = load32(x);
  const float d = abs_max(v) / 127.0f;
  const float id = inverse_scale(d);
  int32x4_t q[8];
  for (int i = 0; i < 8; ++i) q[i] = vcvtaq_s32_f32(vmulq_n_f32(v.v[i], id));
  Q8 out;
  out.d = d;
  out.codes[0] = narrow16(q[0], q[1], q[2], q[3]);
  out.codes[1] = narrow16(q[4], q[5], q[6], q[7]);
  out.first_half = vaddlvq_s8(out.codes[0]);  // at most 16 · 127 in magnitude
  out.sum = out.first_half + vaddlvq_s8(out.codes[1]);
  return out;
}

}  // namespace

void quantize_row_q8_0(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q8_0*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    const Q8 q = quantize_q8(x);
    y[b].d = to_half(q.d);
    vst1q_s8(y[b].qs, q.codes[0]);
    vst1q_s8(y[b].qs + 16, q.codes[1]);
  }
}

// q4_0: d = extreme / −8, q = min(15, trunc(x·(1/d) + 8.5)); a scale too small to invert stores
// code 0 (formats/block_stats.hpp). Element j in the low nibble of byte j, j + 16 in the high one.
void quantize_row_q4_0(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q4_0*>(blocks);
  const int32x4_t top = vdupq_n_s32(15);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    const Floats32 v = load32(x);
    const float d = signed_extreme(x, v) / -8.0f;
    const float id = inverse_scale(d);
    const bool uninvertible = d != 0.0f && id == 0.0f;
    const float32x4_t offset = vdupq_n_f32(uninvertible ? 0.0f : 8.5f);
    y[b].d = to_half(d);
    int32x4_t q[8];
    for (int i = 0; i < 8; ++i) q[i] = vminq_s32(top, vcvtq_s32_f32(vaddq_f32(vmulq_n_f32(v.v[i], id), offset)));
    const uint8x16_t lo = vreinterpretq_u8_s8(narrow16(q[0], q[1], q[2], q[3]));
    const uint8x16_t hi = vreinterpretq_u8_s8(narrow16(q[4], q[5], q[6], q[7]));
    vst1q_u8(y[b].qs, vorrq_u8(lo, vshlq_n_u8(hi, 4)));
  }
}

void quantize_row_f16(const float* x, void* values, std::size_t n) {
  auto* y = static_cast<std::uint16_t*>(values);  // any even address: vst1 needs no alignment
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vst1q_u16(y + i, vcombine_u16(to_half4(vld1q_f32(x + i)), to_half4(vld1q_f32(x + i + 4))));
  }
  if (i < n) {  // the last 1..7 through the same conversion
    float tail[8] = {};
    std::uint16_t out[8];
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    vst1q_u16(out, vcombine_u16(to_half4(vld1q_f32(tail)), to_half4(vld1q_f32(tail + 4))));
    std::memcpy(y + i, out, (n - i) * sizeof(std::uint16_t));
  }
}

void dequantize_row_f16(const void* values, float* y, std::size_t n) {
  const auto* x = static_cast<const std::uint16_t*>(values);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(x + i);
    vst1q_f32(y + i, from_half4(vget_low_u16(h)));
    vst1q_f32(y + i + 4, from_half4(vget_high_u16(h)));
  }
  for (; i < n; ++i) y[i] = from_half(x[i]);
}

// Round to nearest even on the 16 bits dropped, with integer operations (ARMv8.0 has no bf16
// conversion); a NaN keeps its top bits and becomes quiet, as core::fp32_to_bf16 does.
void quantize_row_bf16(const float* x, void* values, std::size_t n) {
  auto* y = static_cast<std::uint16_t*>(values);
  const uint32x4_t one = vdupq_n_u32(1), bias = vdupq_n_u32(0x7fff), abs_mask = vdupq_n_u32(0x7fffffff),
                   inf = vdupq_n_u32(0x7f800000);
  const uint16x4_t quiet = vdup_n_u16(0x40);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t bits = vreinterpretq_u32_f32(vld1q_f32(x + i));
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(bits, 16), one);
    const uint16x4_t rounded = vshrn_n_u32(vaddq_u32(bits, vaddq_u32(bias, odd)), 16);
    const uint16x4_t nan = vorr_u16(vshrn_n_u32(bits, 16), quiet);
    const uint16x4_t is_nan = vmovn_u32(vcgtq_u32(vandq_u32(bits, abs_mask), inf));
    vst1_u16(y + i, vbsl_u16(is_nan, nan, rounded));
  }
  for (; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    y[i] = (bits & 0x7fffffffu) > 0x7f800000u
               ? static_cast<std::uint16_t>((bits >> 16) | 0x40u)
               : static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

void dequantize_row_bf16(const void* values, float* y, std::size_t n) {
  const auto* x = static_cast<const std::uint16_t*>(values);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(x + i);
    vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(y + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
  }
  for (; i < n; ++i) {
    const std::uint32_t bits = static_cast<std::uint32_t>(x[i]) << 16;
    std::memcpy(y + i, &bits, 4);
  }
}

// y = float(q) · d, the reference's single multiplication (float(q) is exact).
void dequantize_row_q8_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const block_q8_0*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = from_half(x[b].d);
    for (int h = 0; h < 2; ++h) {
      const int8x16_t q = vld1q_s8(x[b].qs + 16 * h);
      const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
      float* out = y + 16 * h;
      vst1q_f32(out, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
      vst1q_f32(out + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
      vst1q_f32(out + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
      vst1q_f32(out + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
    }
  }
}

void dequantize_row_q4_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const block_q4_0*>(blocks);
  const int8x16_t eight = vdupq_n_s8(8);
  for (std::size_t b = 0; b < n / 32; ++b, y += 32) {
    const float d = from_half(x[b].d);
    const uint8x16_t bytes = vld1q_u8(x[b].qs);
    const int8x16_t codes[2] = {vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, vdupq_n_u8(0x0f))), eight),
                                vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(bytes, 4)), eight)};
    for (int h = 0; h < 2; ++h) {
      const int16x8_t lo = vmovl_s8(vget_low_s8(codes[h])), hi = vmovl_high_s8(codes[h]);
      float* out = y + 16 * h;
      vst1q_f32(out, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
      vst1q_f32(out + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
      vst1q_f32(out + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
      vst1q_f32(out + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
    }
  }
}

bool any_out_of_range(const float* x, std::size_t n, std::uint32_t limit_bits) {
  const uint32x4_t abs_mask = vdupq_n_u32(0x7fffffff), limit = vdupq_n_u32(limit_bits);
  uint32x4_t bad = vdupq_n_u32(0);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // two vectors per step: two independent compares
    const uint32x4_t a = vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x + i)), abs_mask);
    const uint32x4_t b = vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x + i + 4)), abs_mask);
    bad = vorrq_u32(bad, vorrq_u32(vcgeq_u32(a, limit), vcgeq_u32(b, limit)));
  }
  bool any = vmaxvq_u32(bad) != 0;
  for (; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    any = any || (bits & 0x7fffffffu) >= limit_bits;
  }
  return any;
}

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks, const ActivationRowOut& out) {
  auto* codes = reinterpret_cast<std::byte*>(out.codes);
  auto* scale = reinterpret_cast<std::byte*>(out.scale);
  auto* sum = reinterpret_cast<std::byte*>(out.sum);
  auto* scaled = reinterpret_cast<std::byte*>(out.scaled_sum);
  auto* halves_out = reinterpret_cast<std::byte*>(out.half_sums);
  float tail[32];
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* src = x + b * 32;
    if ((b + 1) * 32 > cols) {  // the last, partial block and any past the row: zeros after the row
      for (std::size_t i = 0; i < 32; ++i) tail[i] = b * 32 + i < cols ? src[i] : 0.0f;
      src = tail;
    }
    const Q8 q = quantize_q8(src);
    const float d = from_half(to_half(q.d));
    const float s = d * static_cast<float>(q.sum);
    const std::size_t at = b * out.stride;
    vst1q_s8(reinterpret_cast<std::int8_t*>(codes + at), q.codes[0]);
    vst1q_s8(reinterpret_cast<std::int8_t*>(codes + at + 16), q.codes[1]);
    std::memcpy(scale + at, &d, 4);
    std::memcpy(sum + at, &q.sum, 4);
    std::memcpy(scaled + at, &s, 4);
    const std::int16_t halves[2] = {static_cast<std::int16_t>(q.first_half),
                                    static_cast<std::int16_t>(q.sum - q.first_half)};
    std::memcpy(halves_out + at, halves, 4);
  }
}

}  // namespace qlinear::kernels::neon
