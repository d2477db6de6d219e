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

// A format a size budget (QuantPlan::target_bits_per_weight) may give a tensor: a block or float
// format, or an affine one with its own layout (one candidate may be i4 in groups of 32, another i4
// per channel; QuantPlan::affine is not used for candidates). Converts from a Format, so
// `plan.candidates = {Format::q4_0, Format::q8_0}` works. docs/budget.md.
struct QLINEAR_API QuantCandidate {
  Format format = Format::q8_0;
  AffineOptions affine{};  // i8 / i4 only; ignored (and left default) for the other formats

  QuantCandidate() = default;
  QuantCandidate(Format f) : format(f) {}  // NOLINT: implicit on purpose
  QuantCandidate(Format f, const AffineOptions& a);

  // "q4_K", "f16", or an affine format with '/'-separated layout words: "i4/g64" (groups of 64),
  // "i4/channel", "i4/tensor", "asym" or "sym", "minmax", "mse" or "pNN.N" (the clipping rule), e.g.
  // "i4/g32/asym/mse". Words left out come from `base` (the group size from `base` only with its
  // group granularity, else 32). Error(unknown_format) for an unknown format, Error(invalid_argument)
  // for a bad word or a group size that is not a positive multiple of 8.
  static QuantCandidate parse(std::string_view spec, const AffineOptions& base = {});
  std::string name() const;  // parse(name()) gives it back: "q4_K", "i4/g64", "i8/channel/asym/mse"
  bool operator==(const QuantCandidate& o) const noexcept;
};

// One candidate measured on one tensor: what it would take in the output and what error it makes.
struct QLINEAR_API BudgetAlternative {
  QuantCandidate candidate;
  std::uint64_t bytes = 0;  // exactly what it writes: codes, scales, zero points
  double error = 0;         // see BudgetChoice::measure
  std::string note;         // "fallback of q4_K: row length 120 ...", where it is not the candidate itself
};

// A size budget's choice for one tensor, among its alternatives (each candidate that can hold its
// rows, in ascending bytes; where none can, the fallbacks a plain run of each would take).
struct QLINEAR_API BudgetChoice {
  std::vector<BudgetAlternative> alternatives;
  std::size_t chosen = 0;  // index into alternatives
  // What `error` is: "output", ‖X(W−Q)ᵀ‖² on the tensor's calibration data (from XᵀX); "importance",
  // Σ imp_j·(w_ij − q_ij)² with the importance matrix's entry; "weight", Σ (w_ij − q_ij)².
  std::string measure;
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
  // A size budget (docs/budget.md): every tensor the defaults would quantize is measured under every
  // candidate that can hold its rows in the output (error as BudgetChoice::measure, with this plan's
  // method, importance and calibration), then each gets the candidate that minimizes the sum of the
  // errors over all tensors with ModelReport::bits_per_weight() — every byte written, the kept and
  // ruled tensors' too, over every tensor's elements — at most this target. Rules and keeps still
  // decide their tensors (their bytes count); default_format is not used; a mix is Error
  // (invalid_argument). An unreachable target is Error(invalid_argument) naming the least reachable.
  std::optional<double> target_bits_per_weight;
  // The candidates; empty: default_candidates() for each tensor's row length.
  std::vector<QuantCandidate> candidates;
};

// The candidates a budget gives a tensor of `cols` inputs when QuantPlan::candidates is empty: q2_K …
// q6_K, iq4_xs (256-blocks), q4_0 … q5_1, q8_0, iq4_nl (32-blocks), i4 with mse clipping symmetric per
// channel and in groups of about 128 and 64 inputs and asymmetric per channel and in groups of about
// 64 and 32 (a multiple of 8 over the row padded to 32; "about": the fewest groups of at most that
// many), i8 symmetric per channel with min-max clipping, and f16 when the target is at least 8.5 bits
// per weight. The block formats whose blocks do not divide the row are left out later, by the output.
QLINEAR_API std::vector<QuantCandidate> default_candidates(std::uint64_t cols, double target_bits_per_weight);

// What happens to one tensor, decided before any data is read.
struct QLINEAR_API TensorDecision {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first
  std::string format_in;             // "F32", "BF16", "q4_0", ...
  std::optional<Format> target;      // empty: copied as it is
  std::string reason;                // "default", "rule 'x=q8_0'", "kept: 1-D", "fallback: ..."
  // The layout of an affine target where it is not QuantPlan::affine (a budget's candidate).
  std::optional<AffineOptions> affine;
  std::optional<BudgetChoice> budget;  // with a size budget, for the tensors it decided
};

// A size budget's totals (QuantPlan::target_bits_per_weight).
struct QLINEAR_API BudgetSummary {
  double target_bits_per_weight = 0;
  std::uint64_t weights = 0;        // elements of every tensor, as ModelReport::weights counts them
  std::uint64_t budget_bytes = 0;   // the most bytes the target allows: bytes · 8 / weights <= target
  std::uint64_t planned_bytes = 0;  // what the plan writes, every tensor included
  std::uint64_t fixed_bytes = 0;    // of those, the tensors the budget did not decide (kept, ruled)
  double min_bits_per_weight = 0;   // with every budget tensor at its smallest alternative
  double error = 0;                 // Σ of the chosen alternatives' errors
  std::size_t tensors = 0;          // the tensors the budget decided
  std::size_t measurements = 0;     // alternatives measured
  bool exact = true;                // the choice is the optimum (false: bytes bucketed, then refined)
  double seconds = 0;               // measuring and choosing
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
  std::optional<BudgetSummary> budget;  // with QuantPlan::target_bits_per_weight

  // The files written: the output, or its shards in order (and, for safetensors, the index last).
  std::vector<std::filesystem::path> files;

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

// The decisions quantize_model() would take for `input`, without writing anything. With a size
// budget this measures every candidate (as quantize_model() does before writing), and `budget`,
// when given, receives the totals.
QLINEAR_API
std::vector<TensorDecision> plan_model(const std::filesystem::path& input, const QuantPlan& plan,
                                       bool gguf_output = true, BudgetSummary* budget = nullptr);

// Reads `input` (safetensors or GGUF, by content), quantizes tensor by tensor, and writes `output`
// (GGUF, or safetensors when the name ends in .safetensors; that holds f32/f16/bf16 only). The output
// appears only when everything succeeded. Peak memory stays near the largest tensor.
// The input may be a sharded model, read as one: a folder, a safetensors index
// (NAME.safetensors.index.json), or the first file of a GGUF split (NAME-00001-of-0000N.gguf); a
// shard that is missing, truncated, holds a tensor another shard holds, or disagrees with the index
// or the split keys is an Error naming it (docs/files.md).
QLINEAR_API
ModelReport quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                           const QuantPlan& plan, const ProgressCallback& progress = {});

// How quantize_model() writes its output (what it writes is the plan's).
struct QLINEAR_API OutputOptions {
  // Split the output into several files as llama.cpp's gguf-split does (one of the two limits): a
  // file ends before the tensor that would take its tensor data past split_max_bytes (each tensor
  // counted padded to 32 bytes; metadata not counted), or every split_max_tensors tensors. GGUF
  // output OUT.gguf becomes OUT-00001-of-0000N.gguf ..., each with split.no (u16, from 0),
  // split.count (u16) and split.tensors.count (i32), the metadata in the first, tensors in order, as
  // llama.cpp loads them. Safetensors output OUT.safetensors becomes OUT-00001-of-0000N.safetensors
  // ... and the index OUT.safetensors.index.json (weight_map, metadata.total_size). Each file is
  // written atomically; on failure the files already written are removed. i8/i4 tensors (several
  // GGUF tensors each) cannot be split: Error(unsupported).
  std::uint64_t split_max_bytes = 0;
  std::size_t split_max_tensors = 0;
  // Tensors in flight at once: each is read and quantized on a thread of its own (with the pool's
  // threads when they are free) while earlier ones are written, in order. The output's bytes are
  // those of jobs = 1; memory holds up to `jobs` tensors' input and output at a time.
  std::size_t jobs = 1;
  // With a split: write file `only_file` (from 0) and no other, as one piece of a run spread over
  // processes or machines; its bytes are those the whole run writes there. The safetensors index
  // is written with file 0.
  std::optional<std::size_t> only_file;

  bool split() const noexcept { return split_max_bytes != 0 || split_max_tensors != 0; }
};

QLINEAR_API
ModelReport quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                           const QuantPlan& plan, const ProgressCallback& progress, const OutputOptions& options);

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
