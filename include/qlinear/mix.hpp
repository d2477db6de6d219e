#pragma once
// llama-quantize's file types ("mixes"): `--type q4_k_m` quantizes most tensors of a model in one
// base format (q4_K) and gives some more bits (output.weight in q6_K; attn_v and ffn_down of chosen
// layers in q6_K), by rules that read the tensor names, the layer counts and the model's metadata.
// docs/mixes.md lists the rules and which of them depend on the architecture.

#include <qlinear/export.h>
#include <qlinear/format.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace qlinear {

// The values are llama.h's LLAMA_FTYPE_MOSTLY_* numbers, which a GGUF file records as general.file_type.
enum class Mix : std::uint32_t {
  q4_0 = 2, q4_1 = 3, q8_0 = 7, q5_0 = 8, q5_1 = 9,
  q2_K = 10, q3_K_S = 11, q3_K_M = 12, q3_K_L = 13, q4_K_S = 14, q4_K_M = 15, q5_K_S = 16, q5_K_M = 17,
  q6_K = 18, iq4_nl = 25, iq4_xs = 30,
};

struct QLINEAR_API MixInfo {
  Mix mix;
  std::string_view name;  // "q4_K_M", as qlinear spells formats ("Q4_K_M" for llama-quantize)
  Format base;            // the format of the tensors no rule picks out
};

QLINEAR_API std::span<const MixInfo> all_mixes() noexcept;  // in the order of llama.h's numbers
QLINEAR_API const MixInfo& mix_info(Mix mix);
// A mix named in any letter case. "q3_K", "q4_K" and "q5_K" are their _M mixes, as llama-quantize
// reads them; float formats, q8_1 and the affine formats are not mixes (nullopt).
QLINEAR_API std::optional<Mix> find_mix(std::string_view name) noexcept;
inline std::uint32_t llama_file_type(Mix mix) noexcept { return static_cast<std::uint32_t>(mix); }

}  // namespace qlinear
