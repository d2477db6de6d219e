#pragma once
// Whole-model quantization: every named tensor of a safetensors or GGUF file, by a plan of rules,
// streamed one tensor at a time into a GGUF (or, for float formats, safetensors) file.

#include <qlinear/export.h>
#include <qlinear/calibration_file.hpp>
#include <qlinear/mix.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

// Tensors whose name matches `pattern` get `format`, or are kept as they are (format empty).
// A pattern is a glob matched against the whole name (`*` any run of characters, `?` one character,
// `[abc]` / `[a-z]` / `[!a]` a set), or, prefixed with "re:", an ECMAScript regular expression that
// must match the whole name.
struct QLINEAR_API TensorRule {
  std::string pattern;
  std::optional<Format> format;

  // "PATTERN=FORMAT" or "PATTERN=keep" (the last '=' separates). Error(invalid_argument) otherwise.
  static TensorRule parse(std::string_view spec);
  bool matches(std::string_view name) const;  // Error(invalid_argument) for a bad regular expression
};

struct QLINEAR_API QuantPlan {
  Format default_format = Format::q8_0;
  std::vector<TensorRule> rules;  // in order, first match wins; they take precedence over the defaults
  AffineOptions affine{};         // for i8 / i4 targets
  // Defaults, applied to tensors no rule matched: tensors of rank < 2 (biases, norm scales, scalars)
  // are kept, and so are tensors that do not hold floats (integer ids, masks).
  bool keep_1d = true;
  // For GGUF output: the format of tensors whose row length the chosen block format cannot hold
  // (ggml needs whole blocks per row). Empty: as llama-quantize does, a 256-block format's 32-block
  // partner where the rows are whole blocks of it (q2_K, q3_K → q4_0, q4_K → q5_0, q5_K → q5_1,
  // q6_K → q8_0, iq4_xs → iq4_nl), else f16 (bf16 for bf16 input); an affine format (i8, i4) keeps
  // such rows small, at the price of being readable by qlinear only.
  std::optional<Format> fallback;
  // llama-quantize's mix (docs/mixes.md): on a GGUF model with general.architecture, tensors no rule
  // matched get the types llama-quantize gives them (output.weight in q6_K, ...) instead of
  // default_format, which should be the mix's base format; general.file_type is the mix's number.
  // `pure`: the mix's file type, and default_format for every tensor llama-quantize quantizes.
  std::optional<Mix> mix;
  bool pure = false;
  // Importance weights (llama.cpp's importance matrix): each quantized tensor whose name has an
  // entry is quantized with it as QuantizeOptions::importance (an entry of the wrong length is
  // Error(size_mismatch)); the others without. A GGUF output records the matrix as llama-quantize
  // does (quantize.imatrix.file, .dataset, .entries_count, .chunks_count).
  std::shared_ptr<const ImportanceMatrix> importance;
  // How codes are chosen (QuantizeOptions::method), and the calibration data (activations or
  // statistics, by weight name) that gptq needs and search and the report use: each quantized tensor
  // with an entry gets its Calibration (read one tensor at a time; an entry of another width is
  // Error(size_mismatch)); a tensor without one is quantized with search when the method is gptq, and
  // the report says so. Float targets (f32, f16, bf16) are converted as always.
  Method method = Method::reference;
  std::shared_ptr<const CalibrationFile> calibration;
  double damping = 0.01;  // gptq (QuantizeOptions::damping)
};

// What happens to one tensor, decided before any data is read.
struct QLINEAR_API TensorDecision {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first
  std::string format_in;             // "F32", "BF16", "q4_0", ...
  std::optional<Format> target;      // empty: copied as it is
  std::string reason;                // "default", "rule 'x=q8_0'", "kept: 1-D", "fallback: ..."
};

struct QLINEAR_API TensorReport {
  TensorDecision decision;
  std::string format_out;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::optional<QuantStats> stats;  // for quantized tensors: against the input's float values
  bool importance = false;          // quantized with an importance-matrix entry that its format uses
  std::string method;               // "reference", "search", "gptq", "search (no calibration data)"
  // With calibration data for the tensor: ‖X(W−Q)ᵀ‖² and ‖X·Wᵀ‖² over its calibration inputs X,
  // computed from XᵀX, and their ratio's square root, the relative output error.
  std::optional<double> output_error;
  double output_error2 = 0, output_signal2 = 0;
  double seconds = 0;
};

struct QLINEAR_API ModelReport {
  std::filesystem::path input, output;
  std::vector<TensorReport> tensors;
  std::uint64_t bytes_in = 0, bytes_out = 0, weights = 0;
  double seconds = 0;
  // Pooled over the tensors that had calibration data: sqrt(Σ error² / Σ signal²).
  std::optional<double> output_error;

  double compression() const noexcept;      // bytes_in / bytes_out
  double bits_per_weight() const noexcept;  // bytes_out · 8 / weights
  void print(std::ostream& out) const;      // the per-tensor table and the totals
  std::string to_json() const;
};

struct QLINEAR_API ModelProgress {
  std::size_t index = 0, count = 0;  // tensor `index` of `count` is done
  std::string_view name;
  std::uint64_t bytes_done = 0, bytes_total = 0;  // input bytes processed so far, of all
};
using ProgressCallback = std::function<void(const ModelProgress&)>;

// The decisions quantize_model() would take for `input`, without writing anything.
QLINEAR_API
std::vector<TensorDecision> plan_model(const std::filesystem::path& input, const QuantPlan& plan,
                                       bool gguf_output = true);

// Reads `input` (safetensors or GGUF, by content), quantizes tensor by tensor, and writes `output`
// (GGUF, or safetensors when the name ends in .safetensors; that holds f32/f16/bf16 only). The output
// appears only when everything succeeded. Peak memory stays near the largest tensor.
QLINEAR_API
ModelReport quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                           const QuantPlan& plan, const ProgressCallback& progress = {});

// The difference between two files of the same model, tensor by tensor (A is the reference). Every
// format qlinear can read is dequantized to floats first, so any two formats compare.
struct QLINEAR_API TensorComparison {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::string format_a, format_b;
  std::optional<QuantStats> stats;  // B against A; absent when the tensor could not be compared
  std::string note;                 // why not: "shape 2×3 vs 3×2", "q4_K cannot be dequantized", ...
  // With activations: ‖X(A−B)ᵀ‖ / ‖X·Aᵀ‖ over the tensor's inputs X, and its two squared norms.
  std::optional<double> output_error;
  double output_error2 = 0, output_signal2 = 0;
};

struct QLINEAR_API ModelComparison {
  std::filesystem::path a, b;
  std::vector<TensorComparison> tensors;  // in A's order, for names in both files
  std::vector<std::string> only_in_a, only_in_b;
  // Over every compared tensor together: relative RMSE, SQNR and cosine of B against A.
  double rel_rmse = 0, sqnr_db = 0, cosine = 0;
  std::uint64_t bytes_a = 0, bytes_b = 0;
  // With activations: the file, and the output error pooled over every tensor that had inputs
  // (sqrt(Σ ‖X(A−B)ᵀ‖² / Σ ‖X·Aᵀ‖²)); the tensors without are listed.
  std::filesystem::path activations;
  std::optional<double> output_error;
  std::vector<std::string> without_activations;

  void print(std::ostream& out) const;
  std::string to_json() const;
};

// `activations`, when given, is a CalibrationFile (activations or statistics) whose entries are
// matched to A's tensors by name; an entry whose width is not the tensor's row length is noted, not
// used.
QLINEAR_API
ModelComparison compare_models(const std::filesystem::path& a, const std::filesystem::path& b,
                               const CalibrationFile* activations = nullptr);

}  // namespace qlinear
