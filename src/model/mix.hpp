#pragma once
// llama-quantize's per-tensor choices for a mix ("q4_K_M" and the others of <qlinear/mix.hpp>), for
// GGUF models whose tensors carry llama.cpp's names. The same decisions as llama.cpp's quantizer
// (src/llama-quant.cpp), written as a table of rules (mix_rules.cpp) and the counters they read.

#include "model/source.hpp"

#include <qlinear/mix.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qlinear::model {

// What the rules read from a model besides the tensor names.
struct MixModel {
  std::string arch;                        // general.architecture
  std::uint32_t n_layer = 0;               // <arch>.block_count (else 1 + the highest "blk.N.")
  std::uint32_t n_head = 0, n_head_kv = 0; // <arch>.attention.head_count / head_count_kv (first layer's)
  std::uint32_t n_expert = 0;              // <arch>.expert_count
  bool has_output = false;  // output.weight is there; else token_embd.weight doubles as the output
  std::uint32_t n_attn_v = 0;  // tensors counted as attn_v: attn_v, attn_qkv and attn_kv_b
  bool has_imatrix = false;    // importance weights were given (three rules read this)

  std::uint32_t n_gqa() const noexcept;  // query heads per key/value head; 0 when head_count_kv is 0
  bool is_70b() const noexcept;          // llama.cpp's "70B" model type, which one attn_v rule reads

  // The model a GGUF file describes; nullopt for a file without general.architecture (a safetensors
  // file, or a GGUF that llama.cpp would not load), where the rules would not know what they read.
  static std::optional<MixModel> of(const ModelSource& source);
};

struct MixChoice {
  std::optional<Format> format;  // empty: llama-quantize leaves the tensor as it is
  std::string reason;            // for the report: "mix q4_K_M: attn_v 3 of 32, more bits"
};

// The choices, tensor after tensor. llama-quantize counts attn_v and ffn_down tensors as it meets
// them, so choose() must be called in visit_order(), once for each tensor that no --rule or --keep
// matched and that qlinear would quantize (llama-quantize does not count overridden tensors either).
class MixPlanner {
 public:
  MixPlanner(Mix mix, bool pure, MixModel model);

  // Indexes into `tensors` in llama-quantize's order: layer number ("blk.N."; others first), then name.
  static std::vector<std::size_t> visit_order(const std::vector<SourceTensor>& tensors);

  MixChoice choose(const SourceTensor& t);

 private:
  Mix mix_;
  bool pure_;
  MixModel model_;
  std::uint32_t seen_attn_v_ = 0, seen_ffn_down_ = 0, seen_ffn_gate_ = 0, seen_ffn_up_ = 0;
};

// Where llama-quantize sends a tensor whose rows are not whole blocks of `format`: the 32-block
// format paired with a 256-block one (q4_K → q5_0, ...); nullopt where there is none (then f16).
std::optional<Format> smaller_block_fallback(Format format) noexcept;

}  // namespace qlinear::model
