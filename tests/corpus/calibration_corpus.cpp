// The calibration-file part of the malformed corpus: activations files (safetensors and GGUF) and
// qlinear's calibration-statistics GGUF, each breaking one rule CalibrationFile checks (the open, then
// every entry read), plus valid seeds of each kind.

#include "corpus/byte_builder.hpp"
#include "corpus/malformed_corpus.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace qlinear::test {
namespace {

using E = ErrorCode;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- safetensors activations -----------------------------------------------------------------------

std::vector<std::byte> safetensors(const std::string& header, const std::function<void(ByteBuilder&)>& data) {
  ByteBuilder b;
  b.u64(header.size()).raw(header);
  data(b);
  return b.take();
}

// Two weights' inputs: 3 rows × 2 inputs in F32, and 2 × 2 × 2 in BF16 (leading dimensions are rows).
std::vector<std::byte> valid_activations(float first = 1.0f) {
  return safetensors(R"({"fc1.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},)"
                     R"("fc2.weight":{"dtype":"BF16","shape":[2,2,2],"data_offsets":[24,40]}})",
                     [&](ByteBuilder& b) {
                       b.f32(first).f32(-2).f32(0.5f).f32(3).f32(0).f32(1);
                       for (int i = 0; i < 8; ++i) b.u16(0x3F80);  // bf16 1.0
                     });
}

// ---- GGUF (activations and statistics) ---------------------------------------------------------------

struct Tensor {
  std::string name;
  std::vector<std::uint64_t> ne;  // innermost first
  std::uint32_t type = 0;         // 0 f32, 28 f64, 1 f16
  std::vector<double> values;
};

struct Gguf {
  std::vector<std::vector<std::byte>> kv;
  std::vector<Tensor> tensors;
};

std::vector<std::byte> kv_string(std::string_view key, std::string_view v) {
  return ByteBuilder().gguf_string(key).u32(8).gguf_string(v).take();
}
std::vector<std::byte> kv_u32(std::string_view key, std::uint32_t v) {
  return ByteBuilder().gguf_string(key).u32(4).u32(v).take();
}

std::size_t type_size(std::uint32_t type) { return type == 28 ? 8 : type == 1 ? 2 : 4; }

std::vector<std::byte> build(const Gguf& g) {
  ByteBuilder b;
  b.raw("GGUF").u32(3).u64(g.tensors.size()).u64(g.kv.size());
  for (const auto& kv : g.kv) b.raw(kv);
  std::uint64_t offset = 0;
  for (const auto& t : g.tensors) {
    std::uint64_t n = 1;
    for (auto d : t.ne) n *= d;
    b.gguf_string(t.name).u32(static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) b.u64(d);
    b.u32(t.type).u64(offset);
    offset += (n * type_size(t.type) + 31) / 32 * 32;
  }
  b.pad_to(32);
  for (std::size_t i = 0; i < g.tensors.size(); ++i) {
    const auto& t = g.tensors[i];
    for (double v : t.values) {
      if (t.type == 28) b.f64(v);
      else if (t.type == 1) b.u16(0x3C00);
      else b.f32(static_cast<float>(v));
    }
    if (i + 1 < g.tensors.size()) b.pad_to(32);
  }
  return b.take();
}

// Statistics of one weight "fc.weight" of 2 inputs over 3 rows: XᵀX = [[5, 1], [1, 2]].
Gguf valid_statistics() {
  Gguf g;
  g.kv = {kv_string("general.type", "imatrix"), kv_u32("qlinear.calibration.version", 1)};
  g.tensors = {{"fc.weight.in_sum2", {2, 1}, 0, {5, 2}},
               {"fc.weight.counts", {1, 1}, 0, {3}},
               {"fc.weight.xtx", {2, 2}, 28, {5, 1, 1, 2}}};
  return g;
}

std::vector<std::byte> statistics_with(const std::function<void(Gguf&)>& change) {
  Gguf g = valid_statistics();
  change(g);
  return build(g);
}

Gguf valid_gguf_activations() {
  Gguf g;
  g.kv = {kv_string("general.architecture", "none")};
  g.tensors = {{"fc.weight", {2, 3}, 0, {1, 2, 3, 4, 5, 6}}};
  return g;
}

}  // namespace

void add_calibration_cases(std::vector<MalformedCase>& out) {
  const auto add = [&](std::string name, std::vector<std::byte> bytes, E code, std::string message) {
    out.push_back({"calibration_" + std::move(name), Reader::calibration, std::move(bytes), code, std::move(message)});
  };
  // activations, safetensors
  add("activations_no_tensors", safetensors("{}", [](auto&) {}), E::malformed_file, "no tensors");
  add("activations_integer_dtype",
      safetensors(R"({"fc.weight":{"dtype":"I32","shape":[1,2],"data_offsets":[0,8]}})", [](auto& b) { b.u64(0); }),
      E::malformed_file, "tensor 'fc.weight' has type I32; activations must be F32, F16 or BF16");
  add("activations_one_dimension",
      safetensors(R"({"fc.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", [](auto& b) { b.u64(0); }),
      E::malformed_file, "tensor 'fc.weight' has 1 dimensions");
  add("activations_zero_rows",
      safetensors(R"({"fc.weight":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})", [](auto&) {}),
      E::malformed_file, "holds no inputs");
  add("activations_too_wide",
      safetensors(R"({"fc.weight":{"dtype":"F16","shape":[1,65537],"data_offsets":[0,131074]}})",
                  [](auto& b) { b.repeat(0, 131074); }),
      E::malformed_file, "tensor 'fc.weight' has 65537 inputs; qlinear accumulates XᵀX for up to 65536");
  add("activations_nan", valid_activations(std::numeric_limits<float>::quiet_NaN()), E::non_finite,
      "byte offset 143: tensor 'fc1.weight' row 0 column 0 is NaN");
  add("activations_inf_bf16", [] {
        auto bytes = valid_activations();
        bytes[bytes.size() - 2] = std::byte{0x80};  // the last bf16 becomes +Inf (0x7F80)
        bytes[bytes.size() - 1] = std::byte{0x7F};
        return bytes;
      }(), E::non_finite, "tensor 'fc2.weight' row 3 column 1 is +Inf");
  // activations, GGUF
  add("activations_gguf_quantized", [] {
        Gguf g = valid_gguf_activations();
        g.tensors[0] = {"fc.weight", {32, 1}, 2, {}};  // q4_0, 18 zero bytes
        auto bytes = build(g);
        bytes.resize(bytes.size() + 18);
        return bytes;
      }(), E::malformed_file, "tensor 'fc.weight' has type q4_0");
  // statistics
  add("statistics_without_xtx", [] {
        Gguf g = valid_statistics();
        g.tensors.pop_back();
        return build(g);
      }(), E::unsupported, "an importance matrix without XᵀX");
  add("statistics_version_2", statistics_with([](Gguf& g) { g.kv[1] = kv_u32("qlinear.calibration.version", 2); }),
      E::unsupported, "qlinear.calibration.version is 2");
  add("statistics_xtx_f16", statistics_with([](Gguf& g) { g.tensors[2].type = 1; }), E::malformed_file,
      "entry 'fc.weight': tensor 'fc.weight.xtx' has type f16; it must be f64 or f32");
  add("statistics_xtx_not_square", statistics_with([](Gguf& g) {
        g.tensors[2].ne = {2, 1};
        g.tensors[2].values = {5, 2};
      }), E::malformed_file, "XᵀX has shape 1×2; it must be square");
  add("statistics_no_counts", statistics_with([](Gguf& g) { g.tensors.erase(g.tensors.begin() + 1); }),
      E::malformed_file, "has no 'fc.weight.counts' beside it");
  add("statistics_no_sums", statistics_with([](Gguf& g) { g.tensors.erase(g.tensors.begin()); }),
      E::malformed_file, "has no 'fc.weight.in_sum2' beside it");
  add("statistics_sums_wrong_length", statistics_with([](Gguf& g) {
        g.tensors[0].ne = {3, 1};
        g.tensors[0].values = {5, 2, 0};
      }), E::malformed_file, "tensor 'fc.weight.in_sum2' must be 2 f32 values");
  add("statistics_count_zero", statistics_with([](Gguf& g) { g.tensors[1].values = {0}; }), E::malformed_file,
      "the row count is 0.000000; it must be a whole number >= 1");
  add("statistics_count_fraction", statistics_with([](Gguf& g) { g.tensors[1].values = {2.5}; }),
      E::malformed_file, "the row count is 2.500000");
  add("statistics_xtx_nan", statistics_with([](Gguf& g) { g.tensors[2].values[3] = kNaN; }), E::non_finite,
      "entry 'fc.weight': XᵀX at row 1, column 1 is NaN");
  add("statistics_xtx_asymmetric", statistics_with([](Gguf& g) { g.tensors[2].values[1] = 1.5; }),
      E::malformed_file, "XᵀX is not symmetric at row 0, column 1");
  add("statistics_xtx_negative_diagonal", statistics_with([](Gguf& g) { g.tensors[2].values[0] = -5; }),
      E::malformed_file, "XᵀX has a negative diagonal value at row 0, column 0");
  add("statistics_empty_name", statistics_with([](Gguf& g) { g.tensors[2].name = ".xtx"; }), E::malformed_file,
      "the entry's name is empty");
}

void add_calibration_seeds(std::vector<SeedFile>& out) {
  out.push_back({"calibration_activations_safetensors", Reader::calibration, valid_activations()});
  out.push_back({"calibration_activations_gguf", Reader::calibration, build(valid_gguf_activations())});
  out.push_back({"calibration_statistics", Reader::calibration, build(valid_statistics())});
}

}  // namespace qlinear::test
