// llama-quantize's mixes as data: which tensors it quantizes at all, what role a name plays, and one
// table of rules per role, read top to bottom: the first row that names the mix and whose conditions
// hold decides; no row means the mix's base format. Then the row length: where it is not whole
// blocks of the chosen format, the fallback of smaller_block_fallback(), else f16.
//
// The facts come from llama.cpp's src/llama-quant.cpp (llama_tensor_get_type and its helpers) at the
// version of the library that produced tests/data/llama_mixes.json; the test checks every choice
// of every mix on five models against that library's own.

#include "model/mix.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <utility>

namespace qlinear {
namespace {

constexpr std::array<MixInfo, 16> kMixes = {{
    {Mix::q4_0, "q4_0", Format::q4_0},       {Mix::q4_1, "q4_1", Format::q4_1},
    {Mix::q8_0, "q8_0", Format::q8_0},       {Mix::q5_0, "q5_0", Format::q5_0},
    {Mix::q5_1, "q5_1", Format::q5_1},       {Mix::q2_K, "q2_K", Format::q2_K},
    {Mix::q3_K_S, "q3_K_S", Format::q3_K},   {Mix::q3_K_M, "q3_K_M", Format::q3_K},
    {Mix::q3_K_L, "q3_K_L", Format::q3_K},   {Mix::q4_K_S, "q4_K_S", Format::q4_K},
    {Mix::q4_K_M, "q4_K_M", Format::q4_K},   {Mix::q5_K_S, "q5_K_S", Format::q5_K},
    {Mix::q5_K_M, "q5_K_M", Format::q5_K},   {Mix::q6_K, "q6_K", Format::q6_K},
    {Mix::iq4_nl, "iq4_nl", Format::iq4_nl}, {Mix::iq4_xs, "iq4_xs", Format::iq4_xs},
}};

bool same_letters(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::span<const MixInfo> all_mixes() noexcept { return kMixes; }

const MixInfo& mix_info(Mix mix) {
  for (const MixInfo& m : kMixes) {
    if (m.mix == mix) return m;
  }
  throw Error(ErrorCode::invalid_argument, "unknown mix " + std::to_string(static_cast<std::uint32_t>(mix)));
}

std::optional<Mix> find_mix(std::string_view name) noexcept {
  for (const MixInfo& m : kMixes) {
    if (same_letters(m.name, name)) return m.mix;
  }
  // llama-quantize's short names of the medium mixes.
  if (same_letters(name, "q3_K")) return Mix::q3_K_M;
  if (same_letters(name, "q4_K")) return Mix::q4_K_M;
  if (same_letters(name, "q5_K")) return Mix::q5_K_M;
  return std::nullopt;
}

}  // namespace qlinear

namespace qlinear::model {
namespace {

// ---------------------------------------------------------------------------------------------
// What llama-quantize leaves alone, whatever the mix: besides tensors of fewer than two dimensions,
// names that do not end in "weight", and these (small tables, embeddings of positions, routers).

constexpr std::string_view kNeverQuantizedParts[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
    "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};
constexpr std::string_view kNeverQuantizedNames[] = {"position_embd.weight", "token_types.weight"};

// ggml's dimension count: outer dimensions of 1 do not count, so a [1, n] matrix is one-dimensional.
std::size_t ggml_dims(const std::vector<std::uint64_t>& shape) {
  std::size_t skip = 0;
  while (skip + 1 < shape.size() && shape[skip] == 1) ++skip;
  return std::max<std::size_t>(1, shape.size() - skip);
}

std::string not_quantized_reason(const SourceTensor& t) {
  const std::string_view name = t.name;
  if (ggml_dims(t.shape) < 2) return "fewer than 2 dimensions that are not 1";
  if (!name.ends_with("weight")) return "the name does not end in \"weight\"";
  for (std::string_view n : kNeverQuantizedNames) {
    if (name == n) return std::string(n);
  }
  for (std::string_view part : kNeverQuantizedParts) {
    if (name.find(part) != std::string_view::npos) {
      std::string glob = "*";
      glob.append(part).append("*");
      return glob;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Roles: the first row whose text is the whole name (whole) or a part of it decides.

enum class Role { output, token_embd, attn_v, attn_k, attn_q, attn_output, ffn_down, ffn_gate, ffn_up, other };

struct RoleName {
  std::string_view text;
  bool whole;
  Role role;
};

constexpr RoleName kRoles[] = {
    {"output.weight", true, Role::output},
    {"token_embd.weight", true, Role::token_embd},
    {"per_layer_token_embd.weight", true, Role::token_embd},
    // attn_qkv and attn_kv_b are counted and treated as attn_v.
    {"attn_qkv.weight", false, Role::attn_v},
    {"attn_kv_b.weight", false, Role::attn_v},
    {"attn_v.weight", false, Role::attn_v},
    {"attn_k.weight", false, Role::attn_k},
    {"attn_q.weight", false, Role::attn_q},
    {"attn_output.weight", false, Role::attn_output},
    {"ffn_up", false, Role::ffn_up},
    {"ffn_gate", false, Role::ffn_gate},
    {"ffn_down", false, Role::ffn_down},
};

struct TensorRole {
  Role role = Role::other;
  std::string_view label;  // "attn_qkv", "ffn_down", ...
};

TensorRole role_of(std::string_view name) {
  for (const RoleName& r : kRoles) {
    const bool hit = r.whole ? name == r.text : name.find(r.text) != std::string_view::npos;
    if (hit) return {r.role, r.text.substr(0, r.text.find(".weight"))};
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The rules.

using MixSet = std::uint64_t;  // bit i: the mix numbered i
constexpr MixSet mixes(std::initializer_list<Mix> list) {
  MixSet s = 0;
  for (Mix m : list) s |= MixSet{1} << static_cast<std::uint32_t>(m);
  return s;
}
constexpr MixSet kAllMixes = ~MixSet{0};

// Where the tensor sits: for attn_v, its place among the attn_v tensors; for ffn_*, its layer.
enum class At {
  anywhere,
  first_2,         // i < 2
  first_4,         // i < 4
  first_16th,      // i < n/16
  first_8th,       // i < n/8
  more_bits,       // llama.cpp's use_more_bits: the first and last eighth, and every third between
  partial_blocks,  // the rows are not whole blocks of the base format
};

// Conditions on the model, all of which must hold.
enum Need : unsigned {
  none = 0,
  falcon = 1u << 0,
  not_falcon = 1u << 1,
  experts_8 = 1u << 2,      // exactly 8 experts (Mixtral)
  not_experts_8 = 1u << 3,
  gqa_4 = 1u << 4,          // at least 4 query heads per key/value head
  imatrix = 1u << 5,
  no_imatrix = 1u << 6,
  type_70b = 1u << 7,
};

struct Rule {
  MixSet mixes;
  Role role;
  At at;
  unsigned need;
  std::optional<Format> to;  // empty: the base format
  std::string_view why;
};

using enum Format;
// The mixes whose attn_output gets q5_K in a model of 8 experts.
constexpr MixSet kEightExpertOutputMixes = mixes({Mix::q2_K, Mix::q3_K_S, Mix::q3_K_M, Mix::iq4_nl, Mix::q4_K_S,
                                       Mix::q4_K_M, Mix::iq4_xs});

const Rule kRules[] = {
    // output.weight (and token_embd.weight when it doubles as the output)
    {kAllMixes, Role::output, At::anywhere, falcon, q8_0, "q8_0 for falcon's output"},
    {kAllMixes, Role::output, At::partial_blocks, none, q8_0, "rows not whole blocks of the base format"},
    {mixes({Mix::q8_0}), Role::output, At::anywhere, none, std::nullopt, "q8_0 already"},
    {kAllMixes, Role::output, At::anywhere, none, q6_K, "q6_K for the output"},

    // attn_v (and attn_qkv, attn_kv_b)
    {mixes({Mix::q2_K}), Role::attn_v, At::anywhere, gqa_4, q4_K, "grouped-query attention"},
    {mixes({Mix::q2_K}), Role::attn_v, At::anywhere, none, q3_K, "more bits for every attn_v"},
    {mixes({Mix::q3_K_M}), Role::attn_v, At::first_2, none, q5_K, "one of the first 2"},
    {mixes({Mix::q3_K_M}), Role::attn_v, At::anywhere, none, q4_K, "more bits for every attn_v"},
    {mixes({Mix::q3_K_L}), Role::attn_v, At::anywhere, none, q5_K, "more bits for every attn_v"},
    {mixes({Mix::iq4_nl, Mix::iq4_xs}), Role::attn_v, At::anywhere, gqa_4, q5_K, "grouped-query attention"},
    {mixes({Mix::q4_K_M, Mix::q5_K_M}), Role::attn_v, At::more_bits, none, q6_K, "more bits for this one"},
    {mixes({Mix::q4_K_S}), Role::attn_v, At::first_4, none, q5_K, "one of the first 4"},

    // attn_k
    {kAllMixes, Role::attn_k, At::anywhere, experts_8, q8_0, "8 experts"},

    // ffn_down
    {mixes({Mix::q2_K}), Role::ffn_down, At::anywhere, none, q3_K, "more bits for every ffn_down"},
    {mixes({Mix::q3_K_M}), Role::ffn_down, At::first_16th, none, q5_K, "first sixteenth of the layers"},
    {mixes({Mix::q3_K_M}), Role::ffn_down, At::anywhere, not_falcon, q4_K, "more bits for every ffn_down"},
    {mixes({Mix::q3_K_M}), Role::ffn_down, At::more_bits, none, q4_K, "more bits for this layer (falcon)"},
    {mixes({Mix::q3_K_L}), Role::ffn_down, At::anywhere, falcon, q4_K, "more bits for every ffn_down (falcon)"},
    {mixes({Mix::q3_K_L}), Role::ffn_down, At::anywhere, none, q5_K, "more bits for every ffn_down"},
    {mixes({Mix::q4_K_M}), Role::ffn_down, At::first_16th, falcon, q6_K, "first sixteenth of the layers (falcon)"},
    {mixes({Mix::q4_K_M}), Role::ffn_down, At::more_bits, falcon, q5_K, "more bits for this layer (falcon)"},
    {mixes({Mix::q4_K_M}), Role::ffn_down, At::anywhere, falcon, std::nullopt, "falcon"},
    {mixes({Mix::q4_K_M}), Role::ffn_down, At::more_bits, none, q6_K, "more bits for this layer"},
    {mixes({Mix::iq4_nl, Mix::iq4_xs}), Role::ffn_down, At::first_8th, no_imatrix, q5_K,
     "first eighth of the layers, no importance weights"},
    {mixes({Mix::q5_K_M}), Role::ffn_down, At::more_bits, none, q6_K, "more bits for this layer"},
    {mixes({Mix::q4_K_S}), Role::ffn_down, At::first_8th, not_falcon, q5_K, "first eighth of the layers"},
    {mixes({Mix::q4_0}), Role::ffn_down, At::first_8th, imatrix, q4_1, "first eighth of the layers, importance weights"},
    {mixes({Mix::q5_0}), Role::ffn_down, At::first_8th, imatrix, q5_1, "first eighth of the layers, importance weights"},

    // attn_output
    {kEightExpertOutputMixes, Role::attn_output, At::anywhere, not_falcon | experts_8, q5_K, "8 experts"},
    {mixes({Mix::q2_K}), Role::attn_output, At::anywhere, not_falcon | not_experts_8, q3_K, "more bits for every attn_output"},
    {mixes({Mix::q3_K_M}), Role::attn_output, At::anywhere, not_falcon | not_experts_8, q4_K, "more bits for every attn_output"},
    {mixes({Mix::q3_K_L}), Role::attn_output, At::anywhere, not_falcon | not_experts_8, q5_K, "more bits for every attn_output"},
    {mixes({Mix::q3_K_L}), Role::attn_output, At::anywhere, falcon, q4_K, "more bits for every attn_output (falcon)"},
};

// Applied to attn_v after its rule, in this order.
struct Adjustment {
  unsigned need;
  std::optional<Format> from_a, from_b;  // both empty: whatever the rule chose
  Format to;
  std::string_view why;
};
const Adjustment kAttnVAdjustments[] = {
    {type_70b, q3_K, q4_K, q5_K, "a 70B model's attn_v is 8 times smaller than attn_q"},
    {experts_8, std::nullopt, std::nullopt, q8_0, "8 experts"},
};

bool more_bits(std::uint32_t i, std::uint32_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

struct Position {
  std::uint32_t i = 0, n = 0;
};

bool holds(At at, Position p, const SourceTensor& t, Format base) {
  switch (at) {
    case At::anywhere: return true;
    case At::first_2: return p.i < 2;
    case At::first_4: return p.i < 4;
    case At::first_16th: return p.i < p.n / 16;
    case At::first_8th: return p.i < p.n / 8;
    case At::more_bits: return more_bits(p.i, p.n);
    case At::partial_blocks: return t.shape.back() % format_info(base).block_size != 0;
  }
  return false;
}

bool holds(unsigned need, const MixModel& m) {
  const bool is_falcon = m.arch == "falcon";
  const bool has_8 = m.n_expert == 8;
  return (!(need & falcon) || is_falcon) && (!(need & not_falcon) || !is_falcon) &&
         (!(need & experts_8) || has_8) && (!(need & not_experts_8) || !has_8) &&
         (!(need & gqa_4) || m.n_gqa() >= 4) && (!(need & imatrix) || m.has_imatrix) &&
         (!(need & no_imatrix) || !m.has_imatrix) && (!(need & type_70b) || m.is_70b());
}

// The layer of "blk.N.…", if the name says. Like llama.cpp's reading of it, the number is enough:
// what follows it is not checked.
std::optional<std::uint32_t> layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return std::nullopt;
  std::uint32_t layer = 0;
  const auto [end, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), layer);
  if (ec != std::errc{}) return std::nullopt;
  return layer;
}

// "attn_v 3 of 32" (its place among the attn_v tensors) or "layer 3 of 32" (ffn tensors).
std::string describe(const TensorRole& r, Position p) {
  const std::string of = std::to_string(p.i) + " of " + std::to_string(p.n);
  if (r.role == Role::attn_v) return std::string(r.label) + " " + of;
  return std::string(r.label) + " in layer " + of;
}

}  // namespace

std::uint32_t MixModel::n_gqa() const noexcept { return n_head_kv == 0 ? 0 : n_head / n_head_kv; }

bool MixModel::is_70b() const noexcept {
  // Set by each architecture's loader from its layer count: only these four (and llama) have a 70B.
  if (arch == "llama") return n_expert != 8 && n_layer == 80 && n_head != n_head_kv;
  if (arch == "deci" || arch == "olmo" || arch == "qwen2") return n_layer == 80;
  if (arch == "jais2") return n_layer == 68;
  return false;
}

MixPlanner::MixPlanner(Mix mix, bool pure, MixModel model) : mix_(mix), pure_(pure), model_(std::move(model)) {}

std::vector<std::size_t> MixPlanner::visit_order(const std::vector<SourceTensor>& tensors) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Tensors outside the layers rank as layer -1.
  auto key = [&](std::size_t i) {
    const auto layer = layer_of(tensors[i].name);
    return std::pair<std::int64_t, const std::string&>(layer ? static_cast<std::int64_t>(*layer) : -1,
                                                       tensors[i].name);
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  return order;
}

MixChoice MixPlanner::choose(const SourceTensor& t) {
  const MixInfo& info = mix_info(mix_);
  const std::string prefix = "mix " + std::string(info.name) + ": ";
  if (const std::string why = not_quantized_reason(t); !why.empty()) {
    return {std::nullopt, "kept: llama-quantize does not quantize it (" + why + ")"};
  }
  if (pure_) return {info.base, prefix + "--pure"};

  TensorRole role = role_of(t.name);
  if (role.role == Role::token_embd && !model_.has_output) role = {Role::output, "token_embd (tied to the output)"};
  Position at;
  if (role.role == Role::attn_v) {
    at = {seen_attn_v_++, model_.n_attn_v};
  } else if (role.role == Role::ffn_down || role.role == Role::ffn_gate || role.role == Role::ffn_up) {
    std::uint32_t& seen = role.role == Role::ffn_down ? seen_ffn_down_
                          : role.role == Role::ffn_gate ? seen_ffn_gate_ : seen_ffn_up_;
    at = {seen++, model_.n_layer};
    // Experts of a mixture are not always stored layer after layer: the name tells the layer.
    if (model_.n_expert > 1) {
      const auto layer = layer_of(t.name);
      if (!layer || *layer >= model_.n_layer) {
        throw Error(ErrorCode::invalid_argument,
                    "tensor '" + t.name + "': the rules of mix " + std::string(info.name) +
                        " need the layer (blk.N., below " + std::to_string(model_.n_layer) +
                        ") of every ffn tensor of a mixture of experts; use --pure or a --rule for it");
      }
      at.i = *layer;
    }
  }

  Format chosen = info.base;
  std::string why = "base format";
  const MixSet bit = MixSet{1} << static_cast<std::uint32_t>(mix_);
  for (const Rule& rule : kRules) {
    if (rule.role == role.role && (rule.mixes & bit) != 0 && holds(rule.at, at, t, info.base) &&
        holds(rule.need, model_)) {
      chosen = rule.to.value_or(info.base);
      why = rule.why;
      break;
    }
  }
  if (role.role == Role::attn_v) {
    for (const Adjustment& a : kAttnVAdjustments) {
      const bool from = (!a.from_a && !a.from_b) || a.from_a == chosen || a.from_b == chosen;
      if (from && holds(a.need, model_)) {
        chosen = a.to;
        why = a.why;
      }
    }
  }
  std::string where;
  if (role.role == Role::attn_v || role.role == Role::ffn_down || role.role == Role::ffn_gate ||
      role.role == Role::ffn_up) {
    where = describe(role, at) + ", ";
  } else if (role.role != Role::other) {
    where = std::string(role.label) + ", ";
  }
  return {chosen, prefix + where + why};
}

std::optional<MixModel> MixModel::of(const ModelSource& source) {
  const GgufFile* gguf = source.gguf();
  const GgufValue* arch = gguf ? gguf->find("general.architecture") : nullptr;
  if (arch == nullptr || arch->type() != GgufValueType::string) return std::nullopt;
  MixModel m;
  m.arch = arch->as_string();
  // A number, or an array of one per layer (then the first layer's, as llama.cpp's n_gqa() reads).
  auto number = [&](const std::string& key) -> std::optional<std::uint32_t> {
    const GgufValue* v = gguf->find(m.arch + "." + key);
    if (v == nullptr) return std::nullopt;
    if (v->type() == GgufValueType::array) {
      if (v->array_size() == 0) return std::nullopt;
      const GgufValue first = v->array_element(0);
      if (!first.is_integer()) return std::nullopt;
      return static_cast<std::uint32_t>(first.as_u64());
    }
    return v->is_integer() ? std::optional(static_cast<std::uint32_t>(v->as_u64())) : std::nullopt;
  };
  m.n_head = number("attention.head_count").value_or(0);
  m.n_head_kv = number("attention.head_count_kv").value_or(m.n_head);
  m.n_expert = number("expert_count").value_or(0);
  std::uint32_t highest_layer = 0;
  bool any_layer = false;
  for (const SourceTensor& t : source.tensors()) {
    if (t.name == "output.weight") m.has_output = true;
    if (role_of(t.name).role == Role::attn_v) ++m.n_attn_v;
    if (const auto layer = layer_of(t.name)) {
      highest_layer = std::max(highest_layer, *layer);
      any_layer = true;
    }
  }
  m.n_layer = number("block_count").value_or(any_layer ? highest_layer + 1 : 0);
  return m;
}

std::optional<Format> smaller_block_fallback(Format format) noexcept {
  switch (format) {
    case Format::q2_K:
    case Format::q3_K: return Format::q4_0;
    case Format::q4_K: return Format::q5_0;
    case Format::q5_K: return Format::q5_1;
    case Format::q6_K: return Format::q8_0;
    case Format::iq4_xs: return Format::iq4_nl;
    default: return std::nullopt;
  }
}

}  // namespace qlinear::model
