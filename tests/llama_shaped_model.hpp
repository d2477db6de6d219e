#pragma once
// Synthetic GGUF models shaped like llama.cpp's: the tensor names, layer counts and metadata of real
// models (the keys llama.cpp's loader needs to read them), with tiny tensors of 4 rows so that a test
// writes and plans one in milliseconds. llama-quantize's per-tensor choices depend on the names, the
// counts, the metadata and each tensor's row length only, never on how many rows it has.
//
// tests/data/llama_mixes.json holds llama.cpp's own choices for these models (see tests/data/README.md):
// changing a shape or a value here makes that file stale.

#include <qlinear/gguf.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qlinear::test {

struct LlamaShape {
  std::string name;  // the model's key in llama_mixes.json
  std::string arch;  // general.architecture
  std::uint32_t n_layer = 0, n_head = 0, n_head_kv = 0, n_expert = 0;
  std::uint64_t n_embd = 0, n_ff = 0;
  bool has_output = true;      // false: token_embd.weight doubles as the output (tied embeddings)
  bool fused_qkv = false;      // attn_qkv instead of attn_q/k/v (falcon)
  bool gated_ffn = true;       // ffn_gate beside ffn_up
  std::uint64_t extra_cols = 0;  // > 0: one more matrix, "extra_proj.weight", with rows this long
};

inline std::vector<LlamaShape> llama_shapes() {
  return {
      // A LLaMA-3-8B-like layout: 32 layers, grouped-query attention (32 heads, 8 key/value heads),
      // ffn_down rows of 96 (a multiple of 32, not of 256: the K-quants fall back) and one matrix
      // whose rows of 40 fit no block format (f16).
      {"llama32_gqa", "llama", 32, 32, 8, 0, 256, 96, true, false, true, 40},
      // Tied embeddings (no output.weight: token_embd.weight takes the output's rules), no GQA, rows
      // of 288 (32 · 9) everywhere but ffn_down, 12 layers.
      {"llama12_tied", "llama", 12, 8, 8, 0, 288, 512, false, false, true, 0},
      // A Mixtral-like mixture of 8 experts: 3-D expert tensors, ffn_gate_inp, 8 layers.
      {"llama8_moe8", "llama", 8, 8, 2, 8, 256, 256, true, false, true, 0},
      // Falcon: fused attn_qkv, no ffn_gate, the rules that depend on the architecture, 16 layers.
      {"falcon16", "falcon", 16, 8, 1, 0, 256, 512, true, true, false, 0},
      // LLaMA-2-70B's counts (80 layers, 64 heads, 8 key/value heads: llama.cpp's "70B" type), with
      // ffn_down rows of 768, whole q*_K blocks.
      {"llama80_70b", "llama", 80, 64, 8, 0, 256, 768, true, false, true, 0},
  };
}

inline constexpr std::uint64_t kLlamaShapeRows = 4;
inline constexpr std::uint64_t kLlamaShapeVocab = 8;

// Reproducible values, exactly representable in f32 (a 24-bit integer times a power of two), so that
// any program that follows these steps writes the same bytes.
inline std::vector<float> llama_shape_values(std::size_t tensor_index, std::size_t count) {
  std::uint32_t state = 0x9E3779B9u ^ static_cast<std::uint32_t>(tensor_index * 0x85EBCA6Bu);
  std::vector<float> v(count);
  for (auto& x : v) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    const auto n = static_cast<std::int32_t>(state >> 8) - (1 << 23);  // [-2^23, 2^23)
    x = static_cast<float>(n) * 0x1p-27f;                              // [-1/16, 1/16)
  }
  return v;
}

struct LlamaShapeTensor {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first
};

// The tensors in the order a converter writes them: the embeddings, then layer by layer.
inline std::vector<LlamaShapeTensor> llama_shape_tensors(const LlamaShape& s) {
  const std::uint64_t r = kLlamaShapeRows;
  std::vector<LlamaShapeTensor> t;
  t.push_back({"token_embd.weight", {kLlamaShapeVocab, s.n_embd}});
  t.push_back({"output_norm.weight", {s.n_embd}});
  if (s.has_output) t.push_back({"output.weight", {kLlamaShapeVocab, s.n_embd}});
  if (s.extra_cols > 0) t.push_back({"extra_proj.weight", {r, s.extra_cols}});
  for (std::uint32_t i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", {s.n_embd}});
    if (s.fused_qkv) {
      t.push_back({b + "attn_qkv.weight", {r, s.n_embd}});
    } else {
      t.push_back({b + "attn_q.weight", {r, s.n_embd}});
      t.push_back({b + "attn_k.weight", {r, s.n_embd}});
      t.push_back({b + "attn_v.weight", {r, s.n_embd}});
    }
    t.push_back({b + "attn_output.weight", {r, s.n_embd}});
    if (s.arch != "falcon") t.push_back({b + "ffn_norm.weight", {s.n_embd}});
    if (s.n_expert > 0) {
      t.push_back({b + "ffn_gate_inp.weight", {s.n_expert, s.n_embd}});
      t.push_back({b + "ffn_gate_exps.weight", {s.n_expert, r, s.n_embd}});
      t.push_back({b + "ffn_up_exps.weight", {s.n_expert, r, s.n_embd}});
      t.push_back({b + "ffn_down_exps.weight", {s.n_expert, r, s.n_ff}});
    } else {
      if (s.gated_ffn) t.push_back({b + "ffn_gate.weight", {r, s.n_embd}});
      t.push_back({b + "ffn_up.weight", {r, s.n_embd}});
      t.push_back({b + "ffn_down.weight", {r, s.n_ff}});
    }
  }
  return t;
}

// Writes the model as f32 tensors with the metadata llama.cpp's loader requires of its architecture.
inline void write_llama_shaped_gguf(const std::filesystem::path& path, const LlamaShape& s) {
  GgufWriter w(path);
  const std::string a = s.arch + ".";
  w.set("general.architecture", GgufValue::string(s.arch));
  w.set("general.name", GgufValue::string("synthetic " + s.name));
  w.set(a + "context_length", GgufValue::u32(2048));
  w.set(a + "embedding_length", GgufValue::u32(static_cast<std::uint32_t>(s.n_embd)));
  w.set(a + "block_count", GgufValue::u32(s.n_layer));
  w.set(a + "feed_forward_length", GgufValue::u32(static_cast<std::uint32_t>(s.n_ff)));
  w.set(a + "attention.head_count", GgufValue::u32(s.n_head));
  w.set(a + "attention.head_count_kv", GgufValue::u32(s.n_head_kv));
  if (s.arch == "falcon") {
    w.set(a + "attention.layer_norm_epsilon", GgufValue::f32(1e-5f));
  } else {
    w.set(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
    w.set(a + "rope.dimension_count", GgufValue::u32(static_cast<std::uint32_t>(s.n_embd / s.n_head)));
  }
  if (s.n_expert > 0) {
    w.set(a + "expert_count", GgufValue::u32(s.n_expert));
    w.set(a + "expert_used_count", GgufValue::u32(2));
  }
  w.set(a + "vocab_size", GgufValue::u32(static_cast<std::uint32_t>(kLlamaShapeVocab)));
  w.set("general.file_type", GgufValue::u32(0));  // all f32

  const auto tensors = llama_shape_tensors(s);
  for (const auto& t : tensors) w.add_tensor(t.name, t.shape, 0 /* F32 */);
  w.write_header();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    std::uint64_t n = 1;
    for (auto d : tensors[i].shape) n *= d;
    const auto values = llama_shape_values(i, n);
    w.write_tensor_data(tensors[i].name, std::as_bytes(std::span<const float>(values)));
  }
  w.finish();
}

}  // namespace qlinear::test
