#include "io/ggml_types.hpp"

#include "formats/registry.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>

#include <array>
#include <string>

namespace qlinear::io {
namespace {

// Block sizes and bytes per block as in ggml's type_traits (and gguf-py's GGML_QUANT_SIZES).
constexpr std::array<GgmlTypeTraits, kGgmlTypeCount> kTypes = {{
    {"f32", 1, 4},          // 0
    {"f16", 1, 2},          // 1
    {"q4_0", 32, 18},       // 2
    {"q4_1", 32, 20},       // 3
    {"q4_2", 0, 0},         // 4, removed
    {"q4_3", 0, 0},         // 5, removed
    {"q5_0", 32, 22},       // 6
    {"q5_1", 32, 24},       // 7
    {"q8_0", 32, 34},       // 8
    {"q8_1", 32, 36},       // 9
    {"q2_K", 256, 84},      // 10
    {"q3_K", 256, 110},     // 11
    {"q4_K", 256, 144},     // 12
    {"q5_K", 256, 176},     // 13
    {"q6_K", 256, 210},     // 14
    {"q8_K", 256, 292},     // 15
    {"iq2_xxs", 256, 66},   // 16
    {"iq2_xs", 256, 74},    // 17
    {"iq3_xxs", 256, 98},   // 18
    {"iq1_s", 256, 50},     // 19
    {"iq4_nl", 32, 18},     // 20
    {"iq3_s", 256, 110},    // 21
    {"iq2_s", 256, 82},     // 22
    {"iq4_xs", 256, 136},   // 23
    {"i8", 1, 1},           // 24
    {"i16", 1, 2},          // 25
    {"i32", 1, 4},          // 26
    {"i64", 1, 8},          // 27
    {"f64", 1, 8},          // 28
    {"iq1_m", 256, 56},     // 29
    {"bf16", 1, 2},         // 30
    {"q4_0_4_4", 0, 0},     // 31, removed (repacked at run time now)
    {"q4_0_4_8", 0, 0},     // 32, removed
    {"q4_0_8_8", 0, 0},     // 33, removed
    {"tq1_0", 256, 54},     // 34
    {"tq2_0", 256, 66},     // 35
    {"iq4_nl_4_4", 0, 0},   // 36, removed
    {"iq4_nl_4_8", 0, 0},   // 37, removed
    {"iq4_nl_8_8", 0, 0},   // 38, removed
    {"mxfp4", 32, 17},      // 39
    {"nvfp4", 64, 36},      // 40
    {"q1_0", 128, 18},      // 41
    {"q2_0", 64, 18},       // 42
}};

}  // namespace

const GgmlTypeTraits* ggml_type_traits(std::uint32_t ggml_type) noexcept {
  return ggml_type < kTypes.size() ? &kTypes[ggml_type] : nullptr;
}

}  // namespace qlinear::io

namespace qlinear {

std::optional<Format> format_for_ggml_type(std::uint32_t ggml_type) {
  for (const FormatInfo& info : all_formats()) {
    if (info.ggml_type >= 0 && static_cast<std::uint32_t>(info.ggml_type) == ggml_type) return info.format;
  }
  return std::nullopt;
}

std::uint32_t ggml_type_for(Format format) {
  const FormatInfo& info = format_info(format);
  if (info.ggml_type < 0) {
    throw Error(ErrorCode::unsupported, "format " + std::string(info.name) +
                                            " has no ggml type: affine tensors are stored as codes "
                                            "plus scale tensors");
  }
  return static_cast<std::uint32_t>(info.ggml_type);
}

std::string_view ggml_type_name(std::uint32_t ggml_type) {
  const io::GgmlTypeTraits* t = io::ggml_type_traits(ggml_type);
  return t != nullptr ? t->name : "unknown";
}

std::uint32_t llama_file_type_for(Format dominant) {
  // llama.h's enum llama_ftype (LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, ...).
  switch (dominant) {
    case Format::f32: return 0;
    case Format::f16: return 1;
    case Format::q4_0: return 2;
    case Format::q4_1: return 3;
    case Format::q8_0: return 7;
    case Format::q5_0: return 8;
    case Format::q5_1: return 9;
    case Format::bf16: return 32;
    case Format::q2_K: return 10;    // LLAMA_FTYPE_MOSTLY_Q2_K
    case Format::q3_K: return 12;    // Q3_K_M, what llama-quantize's "Q3_K" means
    case Format::q4_K: return 15;    // Q4_K_M, likewise "Q4_K"
    case Format::q5_K: return 17;    // Q5_K_M, likewise "Q5_K"
    case Format::q6_K: return 18;
    case Format::iq4_nl: return 25;
    case Format::iq4_xs: return 30;
    case Format::q8_1:
    case Format::i8:
    case Format::i4:
      break;
  }
  throw Error(ErrorCode::unsupported, "llama.cpp has no file type for mostly-" +
                                          std::string(format_name(dominant)) +
                                          " files; leave general.file_type unset");
}

std::span<const std::byte> gguf_tensor_bytes(const QuantizedTensor& q) {
  const FormatInfo& info = format_info(q.format());
  if (info.affine) {
    throw Error(ErrorCode::unsupported, "format " + std::string(info.name) +
                                            " is affine: its codes and scales are separate tensors");
  }
  if (q.cols() % info.block_size != 0 || q.padded_cols() != q.cols()) {
    throw Error(ErrorCode::invalid_argument,
                "a " + std::string(info.name) + " tensor of " + std::to_string(q.cols()) +
                    " columns cannot be stored in GGUF: rows must be a multiple of the block size " +
                    std::to_string(info.block_size));
  }
  return q.data();
}

}  // namespace qlinear
