// The kernel table and the choice of instruction-set level.

#include "core/cpu_features.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/scalar_kernels.hpp"

#include <qlinear/error.hpp>

#include <atomic>
#include <cstdlib>
#include <string>

#if defined(QLINEAR_HAVE_AVX2_KERNELS)
#include "kernels/x86/avx2.hpp"
#endif
#if defined(QLINEAR_HAVE_AVX512_KERNELS)
#include "kernels/x86/avx512.hpp"
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS) || defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
#include "kernels/x86/avxvnni.hpp"
#define QLINEAR_HAVE_AVXVNNI_LEVEL 1
#endif
#if defined(QLINEAR_HAVE_NEON_KERNELS)
#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_float.hpp"
#endif

namespace qlinear::kernels {
namespace {

constexpr bool is_float_format(Format f) { return f == Format::f32 || f == Format::f16 || f == Format::bf16; }

KernelTable make_scalar_table() {
  KernelTable t{};
  t.isa = Isa::scalar;
  for (std::size_t i = 0; i < kFormatCount; ++i) {
    const auto f = static_cast<Format>(i);
    t.quantize_row[i] = nullptr;  // the reference quantizers are the scalar ones
    t.gemm[i] = is_float_format(f) ? &scalar::gemm_float : &scalar::gemm_quantized;
    t.dequantize_row[i] = formats::traits(f).dequantize_row_ref;
  }
  t.accumulate_error = &formats::accumulate_error_ref;
  t.quantize_activation_row = &scalar::quantize_activation_row;
  t.any_out_of_range = &formats::any_out_of_range_ref;
  t.int_tile_rows = 1;
  t.float_tile_rows = 1;
  return t;
}

const KernelTable& scalar_table() {
  static const KernelTable table = make_scalar_table();
  return table;
}

#if defined(QLINEAR_HAVE_AVX2_KERNELS)
KernelTable make_avx2_table() {
  KernelTable t = make_scalar_table();
  t.isa = Isa::avx2;
  auto set = [&](Format f, formats::QuantizeRowFn fn) { t.quantize_row[static_cast<std::size_t>(f)] = fn; };
  set(Format::f16, &avx2::quantize_row_f16);
  set(Format::bf16, &avx2::quantize_row_bf16);
  set(Format::q8_0, &avx2::quantize_row_q8_0);
  set(Format::q8_1, &avx2::quantize_row_q8_1);
  set(Format::q4_0, &avx2::quantize_row_q4_0);
  set(Format::q4_1, &avx2::quantize_row_q4_1);
  set(Format::q5_0, &avx2::quantize_row_q5_0);
  set(Format::q5_1, &avx2::quantize_row_q5_1);
  set(Format::q3_K, &avx2::quantize_row_q3_K);
  set(Format::q6_K, &avx2::quantize_row_q6_K);
  for (std::size_t i = 0; i < kFormatCount; ++i) {
    t.gemm[i] = is_float_format(static_cast<Format>(i)) ? &avx2::gemm_float : &avx2::gemm_quantized;
  }
  for (Format f : {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K, Format::q6_K, Format::iq4_nl,
                   Format::iq4_xs}) {
    t.gemm[static_cast<std::size_t>(f)] = &avx2::gemm_kquant;
  }
  t.quantize_activation_row = &avx2::quantize_activation_row;
  t.any_out_of_range = &avx2::any_out_of_range;
  t.int_tile_rows = avx2::kIntTileRows;
  t.float_tile_rows = avx2::kFloatTileRows;
  auto set_dequantize = [&](Format f, formats::DequantizeRowFn fn) { t.dequantize_row[static_cast<std::size_t>(f)] = fn; };
  set_dequantize(Format::f16, &avx2::dequantize_row_f16);
  set_dequantize(Format::bf16, &avx2::dequantize_row_bf16);
  set_dequantize(Format::q8_0, &avx2::dequantize_row_q8_0);
  set_dequantize(Format::q4_0, &avx2::dequantize_row_q4_0);
  set_dequantize(Format::q4_1, &avx2::dequantize_row_q4_1);
  set_dequantize(Format::q5_0, &avx2::dequantize_row_q5_0);
  set_dequantize(Format::q5_1, &avx2::dequantize_row_q5_1);
  t.accumulate_error = &avx2::accumulate_error;
  return t;
}

const KernelTable& avx2_table() {
  static const KernelTable table = make_avx2_table();
  return table;
}
#endif

#if defined(QLINEAR_HAVE_AVXVNNI_LEVEL)
// Which build of the avxvnni kernels this CPU runs: the VEX one (AVX-VNNI) where it can, else the
// EVEX one (AVX-512 VNNI + VL); none where it has neither (avxvnni.hpp).
enum class VnniBuild { none, vex, evex };

VnniBuild vnni_build() noexcept {
  const core::CpuFeatures& f = core::cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return VnniBuild::none;
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS)
  if (f.avxvnni) return VnniBuild::vex;
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
  if (f.avx512f && f.avx512vl && f.avx512vnni) return VnniBuild::evex;
#endif
  return VnniBuild::none;
}

// The AVX2 row with every integer format's GEMM/GEMV replaced by the 256-bit vpdpbusd kernels of
// the build this CPU runs; the float kernels, quantizers, dequantizers and statistics stay AVX2's,
// and so do the activation tiles (the same rows, packed.hpp's panels).
KernelTable make_avxvnni_table() {
  KernelTable t = make_avx2_table();
  t.isa = Isa::avxvnni;
  GemmFn quantized = nullptr, kquant = nullptr;
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS)
  static_assert(avxvnni::kIntTileRows == avx2::kIntTileRows);
  if (vnni_build() == VnniBuild::vex) quantized = &avxvnni::gemm_quantized, kquant = &avxvnni::gemm_kquant;
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
  static_assert(avxvnni_evex::kIntTileRows == avx2::kIntTileRows);
  if (vnni_build() == VnniBuild::evex) quantized = &avxvnni_evex::gemm_quantized, kquant = &avxvnni_evex::gemm_kquant;
#endif
  if (quantized == nullptr) return t;  // not reached: kernel_table() checks isa_supported() first
  for (Format f : {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q8_0, Format::q8_1, Format::i8,
                   Format::i4}) {
    t.gemm[static_cast<std::size_t>(f)] = quantized;
  }
  for (Format f : {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K, Format::q6_K, Format::iq4_nl,
                   Format::iq4_xs}) {
    t.gemm[static_cast<std::size_t>(f)] = kquant;
  }
  return t;
}

const KernelTable& avxvnni_table() {
  static const KernelTable table = make_avxvnni_table();
  return table;
}
#endif

#if defined(QLINEAR_HAVE_AVX512_KERNELS)
// The AVX2 row with the formats that have an AVX-512 kernel replaced: the others (and the
// quantizers, the dequantizers, the statistics) keep the AVX2 kernels, which the CPU of this level
// also runs. The integer activation tiles keep the AVX2 level's rows (the AVX2 kernels left in the
// row read them); the float tiles are this level's, as every float format has a kernel here.
KernelTable make_avx512_table() {
  KernelTable t = make_avx2_table();
  t.isa = Isa::avx512;
  static_assert(avx512::kIntTileRows == avx2::kIntTileRows);
  for (Format f : {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q8_0, Format::q8_1, Format::i8,
                   Format::i4}) {
    t.gemm[static_cast<std::size_t>(f)] = &avx512::gemm_quantized;
  }
  for (Format f : {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K, Format::q6_K, Format::iq4_nl,
                   Format::iq4_xs}) {
    t.gemm[static_cast<std::size_t>(f)] = &avx512::gemm_kquant;
  }
  for (Format f : {Format::f32, Format::f16, Format::bf16}) t.gemm[static_cast<std::size_t>(f)] = &avx512::gemm_float;
  t.float_tile_rows = avx512::kFloatTileRows;
  return t;
}

const KernelTable& avx512_table() {
  static const KernelTable table = make_avx512_table();
  return table;
}
#endif

#if defined(QLINEAR_HAVE_NEON_KERNELS)
// The K-quants and i-quants, one kernel per ARM level on their packed super records.
constexpr Format kKQuantFormats[] = {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K,
                                     Format::q6_K, Format::iq4_nl, Format::iq4_xs};

// The ARM levels: the scalar row with the formats that have a NEON kernel replaced (the packed
// panels are the x86 levels' own, so the activation tiles are too). dotprod replaces the integer
// ones again with its sdot kernels, i8mm with its smmla GEMM (whose GEMV is dotprod's).
constexpr Format kNeonIntFormats[] = {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1,
                                      Format::q8_0, Format::q8_1, Format::i8,   Format::i4};

KernelTable make_neon_table() {
  KernelTable t = make_scalar_table();
  t.isa = Isa::neon;
  for (Format f : kNeonIntFormats) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_quantized;
  for (Format f : kKQuantFormats) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_kquant;
  t.int_tile_rows = neon::kIntTileRows;
  // The float formats and the row conversions (neon_float.hpp): every ARM level keeps these.
  for (Format f : {Format::f32, Format::f16, Format::bf16}) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_float;
  t.float_tile_rows = neon::kFloatTileRows;
  auto set = [&](Format f, formats::QuantizeRowFn fn) { t.quantize_row[static_cast<std::size_t>(f)] = fn; };
  set(Format::f16, &neon::quantize_row_f16);
  set(Format::bf16, &neon::quantize_row_bf16);
  set(Format::q8_0, &neon::quantize_row_q8_0);
  set(Format::q4_0, &neon::quantize_row_q4_0);
  auto set_dequantize = [&](Format f, formats::DequantizeRowFn fn) { t.dequantize_row[static_cast<std::size_t>(f)] = fn; };
  set_dequantize(Format::f16, &neon::dequantize_row_f16);
  set_dequantize(Format::bf16, &neon::dequantize_row_bf16);
  set_dequantize(Format::q8_0, &neon::dequantize_row_q8_0);
  set_dequantize(Format::q4_0, &neon::dequantize_row_q4_0);
  t.quantize_activation_row = &neon::quantize_activation_row;
  t.any_out_of_range = &neon::any_out_of_range;
  return t;
}

KernelTable make_dotprod_table() {
  KernelTable t = make_neon_table();
  t.isa = Isa::dotprod;
  for (Format f : kNeonIntFormats) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_quantized_dotprod;
  for (Format f : kKQuantFormats) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_kquant_dotprod;
  return t;
}

KernelTable make_i8mm_table() {
  KernelTable t = make_dotprod_table();
  t.isa = Isa::i8mm;
  for (Format f : kNeonIntFormats) t.gemm[static_cast<std::size_t>(f)] = &neon::gemm_quantized_i8mm;
  return t;
}

const KernelTable& neon_table() {
  static const KernelTable table = make_neon_table();
  return table;
}

const KernelTable& dotprod_table() {
  static const KernelTable table = make_dotprod_table();
  return table;
}

const KernelTable& i8mm_table() {
  static const KernelTable table = make_i8mm_table();
  return table;
}
#endif

constexpr bool is_x86_level(Isa isa) { return isa == Isa::avx2 || isa == Isa::avxvnni || isa == Isa::avx512; }

// The order of the levels within an architecture (the enum's values are not: runtime.hpp).
constexpr int level_rank(Isa isa) {
  switch (isa) {
    case Isa::scalar: return 0;
    case Isa::avx2: return 1;
    case Isa::avxvnni: return 2;
    case Isa::avx512: return 3;
    case Isa::neon: return 1;
    case Isa::dotprod: return 2;
    case Isa::i8mm: return 3;
  }
  return 0;
}
constexpr bool is_arm_level(Isa isa) { return isa == Isa::neon || isa == Isa::dotprod || isa == Isa::i8mm; }

constexpr const char* kValidLevels = "valid: scalar, avx2, avxvnni, avx512, neon, dotprod, i8mm";

// -1 until set_isa() is called.
std::atomic<int> g_forced_isa{-1};

struct EnvIsa {
  bool set = false, valid = true;
  Isa isa = Isa::scalar;
  std::string text;
};

const EnvIsa& env_isa() {
  static const EnvIsa env = [] {
    EnvIsa e;
    const char* text = std::getenv("QLINEAR_ISA");
    if (text == nullptr || *text == '\0') return e;
    e.set = true;
    e.text = text;
    try {
      e.isa = parse_isa(text);
    } catch (const Error&) {
      e.valid = false;
    }
    return e;
  }();
  return env;
}

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  if (!isa_supported(isa)) {
    throw Error(ErrorCode::unsupported,
                "instruction set " + std::string(isa_name(isa)) + " is not supported by this CPU");
  }
#if defined(QLINEAR_HAVE_NEON_KERNELS)
  if (isa == Isa::i8mm) return i8mm_table();
  if (isa == Isa::dotprod) return dotprod_table();
  if (isa == Isa::neon) return neon_table();
#endif
#if defined(QLINEAR_HAVE_AVX512_KERNELS)
  if (isa == Isa::avx512) return avx512_table();
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_LEVEL)
  if (isa == Isa::avxvnni) return avxvnni_table();
#endif
#if defined(QLINEAR_HAVE_AVX2_KERNELS)
  if (isa == Isa::avx2) return avx2_table();
#endif
  return scalar_table();
}

const KernelTable& active_kernels() { return kernel_table(active_isa()); }

}  // namespace qlinear::kernels

namespace qlinear {

std::string_view isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avxvnni: return "avxvnni";
    case Isa::avx512: return "avx512";
    case Isa::neon: return "neon";
    case Isa::dotprod: return "dotprod";
    case Isa::i8mm: return "i8mm";
  }
  return "unknown";
}

Isa parse_isa(std::string_view name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avxvnni") return Isa::avxvnni;
  if (name == "avx512") return Isa::avx512;
  if (name == "neon") return Isa::neon;
  if (name == "dotprod") return Isa::dotprod;
  if (name == "i8mm") return Isa::i8mm;
  throw Error(ErrorCode::invalid_argument,
              "unknown instruction set '" + std::string(name) + "'; " + kernels::kValidLevels);
}

Isa best_isa() noexcept {
#if defined(QLINEAR_HAVE_AVX2_KERNELS)
  const core::CpuFeatures& f = core::cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
#if defined(QLINEAR_HAVE_AVX512_KERNELS)
  if (avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) return Isa::avx512;
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_LEVEL)
  if (kernels::vnni_build() != kernels::VnniBuild::none) return Isa::avxvnni;
#endif
  if (avx2) return Isa::avx2;
#endif
#if defined(QLINEAR_HAVE_NEON_KERNELS)
  const core::CpuFeatures& f = core::cpu_features();
  if (f.asimd && f.asimddp && f.i8mm) return Isa::i8mm;
  if (f.asimd && f.asimddp) return Isa::dotprod;
  if (f.asimd) return Isa::neon;
#endif
  return Isa::scalar;
}

bool isa_supported(Isa isa) noexcept {
  const Isa best = best_isa();
  if (isa == Isa::scalar) return true;
  if (isa == Isa::avxvnni) {
    // Its own CPU features, not only the rank: a build without the AVX-VNNI object, or one whose
    // compiler knew neither set, lacks the level even where avx512 is the best.
#if defined(QLINEAR_HAVE_AVXVNNI_LEVEL)
    return kernels::vnni_build() != kernels::VnniBuild::none;
#else
    return false;
#endif
  }
  const bool same_architecture = (kernels::is_x86_level(isa) && kernels::is_x86_level(best)) ||
                                 (kernels::is_arm_level(isa) && kernels::is_arm_level(best));
  return same_architecture && kernels::level_rank(isa) <= kernels::level_rank(best);
}

Isa active_isa() {
  const int forced = kernels::g_forced_isa.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  const kernels::EnvIsa& env = kernels::env_isa();
  if (!env.valid) {
    throw Error(ErrorCode::invalid_argument,
                "QLINEAR_ISA='" + env.text + "' is not an instruction set; " + kernels::kValidLevels);
  }
  return env.set && isa_supported(env.isa) ? env.isa : best_isa();
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) {
    throw Error(ErrorCode::unsupported, "set_isa(" + std::string(isa_name(isa)) +
                                            "): this CPU supports at most " +
                                            std::string(isa_name(best_isa())));
  }
  kernels::g_forced_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace qlinear
