// quantize_model(): stream a model through the plan. Every output tensor is declared first (its size
// follows from its shape and format), the header is written, then each tensor is read, quantized,
// measured, written and released before the next: memory stays near one tensor, not the model.

#include "model/affine_gguf.hpp"
#include "model/background_write.hpp"
#include "model/budget.hpp"
#include "model/fused_quantize.hpp"
#include "model/importance.hpp"
#include "model/ordered_jobs.hpp"
#include "model/output_error.hpp"
#include "model/plan.hpp"
#include "model/shards.hpp"
#include "model/source.hpp"
#include "model/split_output.hpp"
#include "model/tensor_quantize.hpp"
#include "io/atomic_file.hpp"
#include "io/ggml_types.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/model.hpp>
#include <qlinear/safetensors.hpp>
#include <qlinear/version.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <type_traits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace qlinear {
namespace {

using Clock = std::chrono::steady_clock;
using model::ModelSource;
using model::SourceTensor;
using model::method_name;
using model::reference_method_name;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Metadata: the input's (GGUF), or its __metadata__ strings under "safetensors." (safetensors); then
// what ggml expects of a quantized file.
void write_metadata(GgufWriter& writer, const ModelSource& source, const QuantPlan& plan) {
  if (const GgufFile* gguf = source.gguf()) {
    for (const auto& [key, value] : gguf->metadata()) {
      if (key.starts_with("qlinear.affine.")) continue;  // rewritten for the tensors written now
      if (key.starts_with("qlinear.quantize.")) continue;  // how this file's codes were chosen, below
      // The input's own split (it was read as one model); a split output sets its keys anew.
      if (key == model::kSplitNoKey || key == model::kSplitCountKey || key == model::kSplitTensorsKey) continue;
      if (plan.target_bits_per_weight && key == "general.file_type") continue;  // no file type fits a budget's mix
      // Arrays of arrays are valid GGUF, but ggml's reader rejects them: they are not carried over.
      if (value.type() == GgufValueType::array && value.element_type() == GgufValueType::array) continue;
      writer.set(key, value);
    }
  } else if (const SafetensorsFile* st = source.safetensors()) {
    for (const auto& [key, value] : st->metadata()) writer.set("safetensors." + key, GgufValue::string(value));
  }
  writer.set("general.quantization_version", GgufValue::u32(ggml_quantization_version));
  // A size budget mixes formats by measurement: no llama.cpp file type describes that (the key is optional).
  if (plan.target_bits_per_weight) return;
  try {
    const std::uint32_t file_type = plan.mix ? llama_file_type(*plan.mix) : llama_file_type_for(plan.default_format);
    writer.set("general.file_type", GgufValue::u32(file_type));
  } catch (const Error&) {
    // q8_1 and the affine formats have no llama.cpp file type: the key is optional, so leave it out.
  }
}

// How the codes were chosen, where it is not ggml's rule alone: the method, and the calibration data.
void add_method_metadata(GgufWriter& writer, const QuantPlan& plan) {
  if (plan.target_bits_per_weight) {
    writer.set("qlinear.quantize.target_bits_per_weight", GgufValue::f64(*plan.target_bits_per_weight));
  }
  if (plan.method == Method::reference && !plan.calibration) return;
  writer.set("qlinear.quantize.method", GgufValue::string(std::string(method_name(plan.method))));
  if (plan.method == Method::gptq) writer.set("qlinear.quantize.damping", GgufValue::f64(plan.damping));
  if (plan.calibration) {
    writer.set("qlinear.quantize.calibration.file", GgufValue::string(plan.calibration->path().string()));
    writer.set("qlinear.quantize.calibration.entries_count",
               GgufValue::u32(static_cast<std::uint32_t>(plan.calibration->names().size())));
  }
}

void declare_gguf_tensor(GgufWriter& writer, const SourceTensor& t, const TensorDecision& d,
                         const QuantPlan& plan) {
  const auto shape = model::gguf_shape(t.shape);
  if (!d.target && t.affine_format) {  // an affine tensor kept: all of its parts, as they were
    for (const auto& p : model::affine_tensors(t.name, shape, *t.affine_format, t.affine_options)) {
      writer.add_tensor(p.name, p.shape, p.ggml_type);
    }
    model::add_affine_metadata(writer, t.name, shape, *t.affine_format, t.affine_options);
  } else if (!d.target) {
    writer.add_tensor(t.name, shape, t.ggml_type);
  } else if (format_info(*d.target).affine) {
    const AffineOptions& affine = d.affine ? *d.affine : plan.affine;  // a budget's candidate has its own
    for (const auto& p : model::affine_tensors(t.name, shape, *d.target, affine)) {
      writer.add_tensor(p.name, p.shape, p.ggml_type);
    }
    model::add_affine_metadata(writer, t.name, shape, *d.target, affine);
  } else {
    writer.add_tensor(t.name, shape, ggml_type_for(*d.target));
  }
}

std::uint64_t write_affine_parts(GgufWriter& writer, const std::string& name, const QuantizedTensor& q) {
  std::vector<std::uint64_t> shape = {q.rows(), q.cols()};
  const auto planned = model::affine_tensors(name, shape, q.format(), q.affine_options());
  const auto parts = model::affine_tensor_bytes(q);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    writer.write_tensor_data(planned[i].name, parts[i]);
    total += parts[i].size();
  }
  return total;
}

// Writes one tensor's data; returns the bytes written and fills the report's stats. Affine tensors
// (several GGUF tensors each) only reach a GGUF writer: a safetensors plan holds float formats only.
template <typename Writer>
std::uint64_t write_tensor(Writer& writer, const ModelSource& source, std::size_t index,
                           const TensorDecision& d, const QuantPlan& plan, TensorReport& report,
                           model::QuantizeWorkspace& workspace, model::BackgroundWrite<Writer>& background) {
  constexpr bool kGguf = std::is_same_v<Writer, GgufWriter>;
  const SourceTensor& t = source.tensors()[index];
  if (!d.target) {
    background.wait();
    if constexpr (kGguf) {
      if (t.affine_format) return write_affine_parts(writer, d.name, source.read_affine(index));
    }
    const auto bytes = source.raw_bytes(index);
    writer.write_tensor_data(d.name, bytes);
    return bytes.size();
  }
  const auto importance = model::importance_for(plan, d);
  report.importance = !importance.empty() && model::format_uses_importance(*d.target, d.affine.value_or(plan.affine));
  // One pass over the file's rows where it applies (the same bytes and statistics as the path
  // below): the reference method, with no calibration data to measure an output error on.
  if (plan.method == Method::reference && !plan.calibration) {
    if (const auto fused = model::quantize_and_measure(source, index, *d.target, importance, workspace,
                                                       [&] { background.wait(); })) {
      report.stats = fused->stats;
      report.method = reference_method_name(*d.target);
      background.start(d.name, fused->bytes);  // written while the next tensor is quantized
      return fused->bytes.size();
    }
  }
  const model::QuantizedSourceTensor qt = model::quantize_source_tensor(source, index, d, plan, importance);
  background.wait();
  report.stats = qt.stats;
  report.method = qt.method;
  if (qt.output) {
    report.output_error = qt.output->relative();
    report.output_error2 = qt.output->error2;
    report.output_signal2 = qt.output->signal2;
  }
  if constexpr (kGguf) {
    if (format_info(*d.target).affine) return write_affine_parts(writer, d.name, qt.q);
  }
  const auto bytes = gguf_tensor_bytes(qt.q);  // the unpadded rows, as either file stores them
  writer.write_tensor_data(d.name, bytes);
  return bytes.size();
}

std::string safetensors_dtype_for(Format f) {
  return f == Format::f32 ? "F32" : f == Format::f16 ? "F16" : "BF16";
}

// Returns the heap's free pages to the system. A tensor's buffers, once freed, raise glibc's mmap
// threshold, so the next tensors' buffers come from the heap, which keeps their pages: measured,
// 24 tensors of 2 MiB quantized to q8_0 left 3.4 MiB behind that the next, larger tensor could not
// use (peak growth 15.3 MiB before, 11.7 MiB after, for an 8 MiB largest tensor). The cost is that
// the next tensor's buffers are faulted in afresh, as a larger one's would be anyway.
void release_free_heap() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

template <typename Writer>
ModelReport stream_tensors(Writer& writer, const ModelSource& source,
                           const std::vector<TensorDecision>& decisions, const QuantPlan& plan,
                           const ProgressCallback& progress) {
  ModelReport report;
  model::QuantizeWorkspace workspace;  // two output buffers for every tensor, sized by the largest
  model::BackgroundWrite<Writer> background(writer);
  std::uint64_t total_in = 0, done_in = 0;
  for (const auto& t : source.tensors()) total_in += t.nbytes;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const auto start = Clock::now();
    const SourceTensor& t = source.tensors()[i];
    TensorReport entry;
    entry.decision = decisions[i];
    entry.format_out = decisions[i].target ? std::string(format_name(*decisions[i].target)) : t.format_in;
    entry.bytes_in = t.nbytes;
    if (i + 1 < decisions.size()) model::prefetch(source.raw_bytes(i + 1));  // read while this one is quantized
    entry.bytes_out = write_tensor(writer, source, i, decisions[i], plan, entry, workspace, background);
    source.release(i);
    release_free_heap();
    entry.seconds = seconds_since(start);
    report.bytes_in += entry.bytes_in;
    report.bytes_out += entry.bytes_out;
    report.weights += model::element_count(t.shape);
    report.tensors.push_back(std::move(entry));
    done_in += t.nbytes;
    if (progress) progress({i + 1, decisions.size(), t.name, done_in, total_in});
  }
  background.wait();
  return report;
}

// --jobs: one tensor's work done on a job's thread, kept until the writer takes it.
struct JobResult {
  TensorReport entry;
  std::unique_ptr<model::QuantizeWorkspace> workspace;  // the fused pass's output: `bytes` point into it
  std::span<const std::byte> bytes;
  std::optional<QuantizedTensor> q;  // the other paths' output; neither for a tensor kept as it is
};

// Workspaces handed from tensor to tensor, so that their pages are faulted in once per run, not
// once per tensor: at most one per tensor in flight.
class WorkspacePool {
 public:
  std::unique_ptr<model::QuantizeWorkspace> take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return std::make_unique<model::QuantizeWorkspace>(true);
    auto w = std::move(free_.back());
    free_.pop_back();
    return w;
  }
  void give_back(std::unique_ptr<model::QuantizeWorkspace> w) {
    if (!w) return;
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(w));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<model::QuantizeWorkspace>> free_;
};

// What write_tensor() does before writing, with the same functions (so the same bytes), into
// buffers of this tensor's own. Its input pages are given back as soon as it is quantized.
JobResult compute_tensor(const ModelSource& source, std::size_t index, const TensorDecision& d,
                         const QuantPlan& plan, WorkspacePool& workspaces) {
  const auto start = Clock::now();
  const SourceTensor& t = source.tensors()[index];
  JobResult r;
  r.entry.decision = d;
  r.entry.format_out = d.target ? std::string(format_name(*d.target)) : t.format_in;
  r.entry.bytes_in = t.nbytes;
  if (!d.target) return r;  // written from the file's pages
  const auto importance = model::importance_for(plan, d);
  r.entry.importance = !importance.empty() && model::format_uses_importance(*d.target, plan.affine);
  if (plan.method == Method::reference && !plan.calibration) {
    r.workspace = workspaces.take();
    if (const auto fused = model::quantize_and_measure(source, index, *d.target, importance, *r.workspace)) {
      r.entry.stats = fused->stats;
      r.entry.method = reference_method_name(*d.target);
      r.bytes = fused->bytes;
      source.release(index);
      r.entry.seconds = seconds_since(start);
      return r;
    }
    workspaces.give_back(std::move(r.workspace));
  }
  model::QuantizedSourceTensor qt = model::quantize_source_tensor(source, index, d, plan, importance);
  source.release(index);
  r.entry.stats = qt.stats;
  r.entry.method = qt.method;
  if (qt.output) {
    r.entry.output_error = qt.output->relative();
    r.entry.output_error2 = qt.output->error2;
    r.entry.output_signal2 = qt.output->signal2;
  }
  r.q = std::move(qt.q);
  r.entry.seconds = seconds_since(start);
  return r;
}

template <typename Writer>
std::uint64_t write_result(Writer& writer, const ModelSource& source, std::size_t index, const TensorDecision& d,
                           const JobResult& r) {
  constexpr bool kGguf = std::is_same_v<Writer, GgufWriter>;
  if (!d.target) {
    if constexpr (kGguf) {
      if (source.tensors()[index].affine_format) return write_affine_parts(writer, d.name, source.read_affine(index));
    }
    const auto bytes = source.raw_bytes(index);
    writer.write_tensor_data(d.name, bytes);
    return bytes.size();
  }
  if (r.workspace) {
    writer.write_tensor_data(d.name, r.bytes);
    return r.bytes.size();
  }
  if constexpr (kGguf) {
    if (format_info(*d.target).affine) return write_affine_parts(writer, d.name, *r.q);
  }
  const auto bytes = gguf_tensor_bytes(*r.q);
  writer.write_tensor_data(d.name, bytes);
  return bytes.size();
}

// stream_tensors() with `jobs` tensors in flight: quantized side by side, written here in order.
template <typename Writer>
ModelReport stream_tensors(Writer& writer, const ModelSource& source, const std::vector<TensorDecision>& decisions,
                           const QuantPlan& plan, const ProgressCallback& progress, std::size_t jobs) {
  if (jobs <= 1) return stream_tensors(writer, source, decisions, plan, progress);
  ModelReport report;
  std::uint64_t total_in = 0, done_in = 0;
  for (const auto& t : source.tensors()) total_in += t.nbytes;
  WorkspacePool workspaces;
  model::run_ordered<JobResult>(
      decisions.size(), jobs,
      [&](std::size_t i) { return compute_tensor(source, i, decisions[i], plan, workspaces); },
      [&](std::size_t i, JobResult& r) {
        release_free_heap();  // the previous tensor's buffers, freed by now (see release_free_heap)
        const auto start = Clock::now();
        r.entry.bytes_out = write_result(writer, source, i, decisions[i], r);
        workspaces.give_back(std::move(r.workspace));
        if (!decisions[i].target) source.release(i);
        r.entry.seconds += seconds_since(start);
        const SourceTensor& t = source.tensors()[i];
        report.bytes_in += r.entry.bytes_in;
        report.bytes_out += r.entry.bytes_out;
        report.weights += model::element_count(t.shape);
        report.tensors.push_back(std::move(r.entry));
        done_in += t.nbytes;
        if (progress) progress({i + 1, decisions.size(), t.name, done_in, total_in});
      });
  release_free_heap();
  return report;
}

// One file of a split and no other (OutputOptions::only_file): its tensors as a model of their own
// through the same writer, so its bytes are those the whole run writes there.
template <typename Open>
ModelReport write_one_file(const ModelSource& source, const std::vector<TensorDecision>& decisions,
                           const QuantPlan& plan, const model::SplitFiles& files, std::size_t k, const Open& open,
                           const OutputOptions& options, const ProgressCallback& progress) {
  if (k >= files.paths.size()) {
    throw Error(ErrorCode::invalid_argument, "file " + std::to_string(k + 1) + " of a split into " +
                                                 std::to_string(files.paths.size()) + " files");
  }
  std::vector<std::size_t> mine;
  std::vector<TensorDecision> chosen;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    if (files.shard_of[i] != k) continue;
    mine.push_back(i);
    chosen.push_back(decisions[i]);
  }
  const auto part = model::select_tensors(source, std::move(mine));
  const auto writer = open(k);
  ModelReport report = stream_tensors(*writer, *part, chosen, plan, progress, options.jobs);
  writer->finish();
  report.files = {files.paths[k]};
  return report;
}

ModelReport write_gguf_split(const ModelSource& source, const std::vector<TensorDecision>& decisions,
                             const QuantPlan& plan, const std::filesystem::path& output,
                             const OutputOptions& options, const ProgressCallback& progress) {
  const auto layout = model::split_layout(source, decisions, true);
  const auto files = model::split_files(layout, output, options, true);
  const auto& shard_of = files.shard_of;
  const auto& paths = files.paths;
  const std::uint64_t alignment = source.gguf() ? source.gguf()->alignment() : 32;
  // As gguf-split: the metadata in the first file; the split keys after it in every file.
  const auto open = [&](std::size_t k) {
    auto writer = std::make_unique<GgufWriter>(paths[k], alignment);
    if (k == 0) {
      write_metadata(*writer, source, plan);
      if (plan.importance) model::add_importance_metadata(*writer, *plan.importance);
      add_method_metadata(*writer, plan);
    }
    writer->set(std::string(model::kSplitNoKey), GgufValue::u16(static_cast<std::uint16_t>(k)));
    writer->set(std::string(model::kSplitCountKey), GgufValue::u16(static_cast<std::uint16_t>(paths.size())));
    writer->set(std::string(model::kSplitTensorsKey), GgufValue::i32(static_cast<std::int32_t>(layout.size())));
    for (std::size_t i = 0; i < layout.size(); ++i) {
      if (shard_of[i] == k) writer->add_tensor(layout[i].name, layout[i].shape, layout[i].ggml_type);
    }
    writer->write_header();
    return writer;
  };
  if (options.only_file) {
    return write_one_file(source, decisions, plan, files, *options.only_file, open, options, progress);
  }
  model::SplitWriter<GgufWriter> writer(shard_of, paths, open);
  ModelReport report = stream_tensors(writer, source, decisions, plan, progress, options.jobs);
  writer.finish();
  writer.keep();
  report.files = paths;
  return report;
}

// Hugging Face's layout: the shards, and an index whose weight_map names each tensor's shard
// (keys sorted, two-space indent, as transformers writes it).
ModelReport write_safetensors_split(const ModelSource& source, const std::vector<TensorDecision>& decisions,
                                    const QuantPlan& plan, const std::filesystem::path& output,
                                    const OutputOptions& options, const ProgressCallback& progress) {
  const auto layout = model::split_layout(source, decisions, false);
  const auto files = model::split_files(layout, output, options, false);
  const auto& shard_of = files.shard_of;
  const auto& paths = files.paths;
  const auto open = [&](std::size_t k) {
    auto writer = std::make_unique<SafetensorsWriter>(paths[k]);
    writer->set_metadata("quantized_by", std::string("qlinear ") + version_string);
    for (std::size_t i = 0; i < layout.size(); ++i) {
      if (shard_of[i] == k) writer->add_tensor(layout[i].name, layout[i].dtype, layout[i].shape);
    }
    writer->write_header();
    return writer;
  };
  const bool whole = !options.only_file;
  ModelReport report;
  std::optional<model::SplitWriter<SafetensorsWriter>> writer;
  if (whole) {
    writer.emplace(shard_of, paths, open);
    report = stream_tensors(*writer, source, decisions, plan, progress, options.jobs);
    writer->finish();
  } else {
    report = write_one_file(source, decisions, plan, files, *options.only_file, open, options, progress);
    if (*options.only_file != 0) return report;
  }
  nlohmann::json index;
  std::uint64_t total = 0;
  index["weight_map"] = nlohmann::json::object();
  for (std::size_t i = 0; i < layout.size(); ++i) {
    index["weight_map"][layout[i].name] = paths[shard_of[i]].filename().string();
    total += layout[i].bytes;
  }
  index["metadata"] = {{"total_size", total}};
  const std::string text = index.dump(2) + "\n";
  const auto index_path = model::safetensors_index_path(output);
  io::AtomicFile file(index_path);
  file.write(std::as_bytes(std::span(text.data(), text.size())));
  file.commit();
  if (!whole) {
    report.files.push_back(index_path);
    return report;
  }
  writer->keep();
  report.files = paths;
  report.files.push_back(index_path);
  return report;
}

}  // namespace

std::vector<TensorDecision> plan_model(const std::filesystem::path& input, const QuantPlan& plan,
                                       bool gguf_output, BudgetSummary* budget) {
  const auto source = ModelSource::open(input);
  if (!plan.target_bits_per_weight) return model::decide_all(*source, plan, gguf_output);
  BudgetSummary summary;
  auto decisions = model::decide_with_budget(*source, plan, gguf_output, summary);
  if (budget != nullptr) *budget = summary;
  return decisions;
}

ModelReport quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                           const QuantPlan& plan, const ProgressCallback& progress) {
  return quantize_model(input, output, plan, progress, OutputOptions{});
}

ModelReport quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                           const QuantPlan& plan, const ProgressCallback& progress, const OutputOptions& options) {
  const auto start = Clock::now();
  const auto source = ModelSource::open(input);
  const bool gguf_output = output.extension() != ".safetensors";
  BudgetSummary budget;  // with a size budget: each candidate measured before anything is written
  const auto decisions = plan.target_bits_per_weight ? model::decide_with_budget(*source, plan, gguf_output, budget)
                                                     : model::decide_all(*source, plan, gguf_output);
  const auto& tensors = source->tensors();
  for (const auto& d : decisions) {  // wrong lengths fail before anything is written
    (void)model::importance_for(plan, d);
    if (d.target && plan.calibration && plan.calibration->contains(d.name) &&
        plan.calibration->in_features(d.name) != d.shape.back()) {
      throw Error(ErrorCode::size_mismatch, "tensor '" + d.name + "': its calibration data in " +
                                                plan.calibration->path().string() + " has " +
                                                std::to_string(plan.calibration->in_features(d.name)) +
                                                " inputs; its rows have " + std::to_string(d.shape.back()));
    }
  }

  if (options.only_file && !options.split() && *options.only_file != 0) {
    throw Error(ErrorCode::invalid_argument, "file " + std::to_string(*options.only_file + 1) +
                                                 " of an output that is not split (one file)");
  }
  ModelReport report;
  if (options.split()) {
    report = gguf_output ? write_gguf_split(*source, decisions, plan, output, options, progress)
                         : write_safetensors_split(*source, decisions, plan, output, options, progress);
    if (plan.target_bits_per_weight && !options.only_file) model::check_budget_bytes(report, budget);
  } else if (gguf_output) {
    GgufWriter writer(output, source->gguf() ? source->gguf()->alignment() : 32);
    write_metadata(writer, *source, plan);
    if (plan.importance) model::add_importance_metadata(writer, *plan.importance);
    add_method_metadata(writer, plan);
    for (std::size_t i = 0; i < tensors.size(); ++i) declare_gguf_tensor(writer, tensors[i], decisions[i], plan);
    writer.write_header();
    report = stream_tensors(writer, *source, decisions, plan, progress, options.jobs);
    if (plan.target_bits_per_weight) model::check_budget_bytes(report, budget);
    writer.finish();
    report.files = {output};
  } else {
    SafetensorsWriter writer(output);
    writer.set_metadata("quantized_by", std::string("qlinear ") + version_string);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& d = decisions[i];
      writer.add_tensor(tensors[i].name, d.target ? safetensors_dtype_for(*d.target) : tensors[i].safetensors_dtype,
                        tensors[i].shape);
    }
    writer.write_header();
    report = stream_tensors(writer, *source, decisions, plan, progress, options.jobs);
    if (plan.target_bits_per_weight) model::check_budget_bytes(report, budget);
    writer.finish();
    report.files = {output};
  }
  model::OutputErrorSums pooled;
  bool any_output = false;
  for (const auto& t : report.tensors) {
    if (!t.output_error) continue;
    pooled += {t.output_error2, t.output_signal2};
    any_output = true;
  }
  if (any_output) report.output_error = pooled.relative();
  if (plan.target_bits_per_weight) report.budget = budget;
  report.input = input;
  report.output = output;
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace qlinear
