// qlinear quantize IN OUT: a whole model through a plan, with a progress bar and a per-tensor report.

#include "affine_flags.hpp"
#include "commands.hpp"
#include "progress.hpp"
#include "run_plan.hpp"

#include "model/budget.hpp"

#include <qlinear/error.hpp>
#include <qlinear/mix.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/model.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

namespace qlinear::cli {
namespace {

struct QuantizeOptions {
  std::string input, output, type = "q8_0", report, fallback, imatrix, method = "reference", calibration;
  double damping = 0.01;
  std::vector<std::string> rules, keeps, candidates;
  std::string target_bpw;  // text: the library names a NaN or a non-positive value
  bool type_given = false;
  bool keep_1d = true, dry_run = false, quiet = false, pure = false;
  AffineFlags affine;
  std::string split_max_size;
  std::size_t split_max_tensors = 0;
  std::size_t jobs = 1;
  std::string plan_file;  // --plan: run pieces of this plan
  std::size_t shard = 0;  // --shard K (from 1): only file K
  bool resume = false;
};

// "4G", "500M", "64K" or a byte count: decimal units, as llama.cpp's gguf-split reads them (4G is
// 4,000,000,000 bytes). Empty for a size that is not one.
std::optional<std::uint64_t> parse_split_size(const std::string& text) {
  std::uint64_t unit = 1;
  std::string digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K': case 'k': unit = 1000; break;
      case 'M': case 'm': unit = 1000 * 1000; break;
      case 'G': case 'g': unit = 1000 * 1000 * 1000; break;
      case 'T': case 't': unit = 1000ull * 1000 * 1000 * 1000; break;
      default: break;
    }
    if (unit != 1) digits.pop_back();
  }
  if (digits.empty() || digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const std::uint64_t n = std::stoull(digits);
  if (n == 0) return std::nullopt;
  return n * unit;
}

OutputOptions make_output_options(const QuantizeOptions& o) {
  OutputOptions out;
  if (!o.split_max_size.empty()) out.split_max_bytes = *parse_split_size(o.split_max_size);
  out.split_max_tensors = o.split_max_tensors;
  out.jobs = o.jobs;
  return out;
}

// The process's peak resident memory so far (VmHWM), or 0 where /proc does not tell.
std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Restarts the peak-memory count from the current use, so the report shows what quantizing took.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// --target-bpw VALUE: any text std::stod reads (NaN and negatives too: the library says what is wrong
// with them), else the word.
double parse_target(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) {
    throw Error(ErrorCode::invalid_argument, "--target-bpw: not a number: '" + text + "'");
  }
  return v;
}

QuantPlan make_plan(const QuantizeOptions& o) {
  QuantPlan plan;
  if (!o.target_bpw.empty()) {
    if (o.type_given) {
      throw Error(ErrorCode::invalid_argument,
                  "--target-bpw chooses every tensor's format, so --type " + o.type +
                      " cannot be given with it (a mix neither): name the formats it may choose with --candidates");
    }
    plan.target_bits_per_weight = parse_target(o.target_bpw);
    if (!std::isfinite(*plan.target_bits_per_weight) || *plan.target_bits_per_weight <= 0) {
      throw Error(ErrorCode::invalid_argument, "--target-bpw must be a finite number > 0, got " + o.target_bpw);
    }
  } else if (!o.candidates.empty()) {
    throw Error(ErrorCode::invalid_argument, "--candidates needs --target-bpw (the size budget they are chosen for)");
  }
  if (plan.target_bits_per_weight) {
    // The budget chooses each format: --type (and its default) plays no part.
  } else if (const auto mix = find_mix(o.type)) {  // llama-quantize's names, the legacy formats included
    plan.mix = mix;
    plan.default_format = mix_info(*mix).base;
    plan.pure = o.pure;
  } else {
    plan.default_format = parse_format(o.type);
  }
  for (const auto& pattern : o.keeps) plan.rules.push_back({pattern, std::nullopt});
  for (const auto& rule : o.rules) plan.rules.push_back(TensorRule::parse(rule));
  plan.affine = o.affine.options();
  // Affine candidates take the words they leave out from the --asymmetric/--granularity/--clip flags.
  for (const auto& spec : o.candidates) plan.candidates.push_back(QuantCandidate::parse(spec, plan.affine));
  plan.keep_1d = o.keep_1d;
  if (!o.fallback.empty()) plan.fallback = parse_format(o.fallback);
  if (!o.imatrix.empty()) plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(o.imatrix));
  plan.method = o.method == "gptq" ? Method::gptq : o.method == "search" ? Method::search : Method::reference;
  if (!o.calibration.empty()) {
    plan.calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(o.calibration));
  }
  plan.damping = o.damping;
  if (plan.method == Method::gptq && !plan.calibration) {
    throw Error(ErrorCode::invalid_argument, "--method gptq needs --calibration FILE (activations or statistics)");
  }
  return plan;
}

// Which quantized tensors the importance matrix weighted, and which it could not.
void print_importance(const ImportanceMatrix& matrix, const ModelReport& report) {
  std::vector<std::string> with, without;
  for (const TensorReport& t : report.tensors) {
    if (!t.decision.target) continue;
    (t.importance ? with : without).push_back(t.decision.name);
  }
  std::cout << "importance matrix " << matrix.path().string() << ": " << matrix.size() << " entries";
  if (matrix.chunks() > 0) std::cout << ", " << matrix.chunks() << " chunks";
  if (!matrix.datasets().empty()) std::cout << ", dataset " << matrix.dataset();
  std::cout << "; used for " << with.size() << " of " << with.size() + without.size() << " quantized tensors\n";
  const auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  if (!with.empty()) std::cout << "  with importance: " << list(with) << "\n";
  if (!without.empty()) std::cout << "  without (no entry, or a format that ignores it): " << list(without) << "\n";
}

// Which quantized tensors had calibration data, and the method each got where it differs.
void print_calibration(const CalibrationFile& file, const ModelReport& report) {
  std::vector<std::string> with, without;
  for (const TensorReport& t : report.tensors) {
    if (!t.decision.target || t.method == "conversion") continue;
    const bool fell_back = t.method.find("no calibration") != std::string::npos;
    (t.output_error ? with : without).push_back(t.decision.name + (fell_back ? " (search)" : ""));
  }
  std::cout << "calibration " << file.path().string() << " ("
            << (file.kind() == CalibrationFile::Kind::activations ? "activations" : "statistics") << ", "
            << file.names().size() << " entries): used for " << with.size() << " of " << with.size() + without.size()
            << " quantized tensors";
  if (report.output_error) {
    std::cout << "; output error on it, pooled: " << format_significant(*report.output_error, 4);
  }
  std::cout << "\n";
  std::string list;
  for (const auto& n : without) list += (list.empty() ? "" : ", ") + n;
  if (!without.empty()) std::cout << "  without calibration data: " << list << "\n";
}

std::string mix_names() {
  std::string names;
  for (const MixInfo& m : all_mixes()) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}

void print_plan(const std::vector<TensorDecision>& decisions) {
  Table table({{"tensor", Table::Align::left}, {"format", Table::Align::left}, {"why", Table::Align::left}});
  for (const auto& d : decisions) {
    table.add_row({d.name, d.format_in + " → " + (d.target ? std::string(format_name(*d.target)) : d.format_in),
                   d.reason});
  }
  table.print(std::cout);
}

void run_pieces(const QuantizeOptions& given);

void run_quantize(const QuantizeOptions& o) {
  if (!o.plan_file.empty() || o.resume) return run_pieces(o);
  const QuantPlan plan = make_plan(o);
  if (o.dry_run) {
    BudgetSummary budget;
    const auto decisions =
        plan_model(o.input, plan, std::filesystem::path(o.output).extension() != ".safetensors", &budget);
    print_plan(decisions);
    if (plan.target_bits_per_weight) model::print_budget_plan(std::cout, budget, decisions);
    return;
  }
  reset_peak_rss();
  const std::uint64_t rss_before = peak_rss_bytes();
  Progress progress("quantizing", o.quiet);
  const ModelReport report = quantize_model(
      o.input, o.output, plan, [&](const ModelProgress& p) { progress.update(p); }, make_output_options(o));
  progress.finish();
  const std::uint64_t rss_peak = peak_rss_bytes();
  report.print(std::cout);
  if (plan.importance) print_importance(*plan.importance, report);
  if (plan.calibration) print_calibration(*plan.calibration, report);
  if (report.files.size() > 1) {
    for (const auto& file : report.files) std::cout << "wrote " << file.string() << "\n";
  }
  std::cout << "wrote " << (report.files.size() > 1 ? std::to_string(report.files.size()) + " files" : o.output)
            << ": " << format_count(report.bytes_out) << " bytes; peak memory "
            << format_fixed(static_cast<double>(rss_peak) / (1 << 20), 1) << " MiB\n";
  if (!o.report.empty()) {
    auto json = nlohmann::json::parse(report.to_json());
    json["totals"]["peak_rss_bytes"] = rss_peak;
    json["totals"]["rss_before_bytes"] = rss_before;
    json["method"] = o.method;
    if (plan.target_bits_per_weight) {
      json["candidates"] = nlohmann::json::array();
      for (const auto& c : plan.candidates) json["candidates"].push_back(c.name());
    }
    if (plan.calibration) {
      json["calibration"] = {
          {"file", plan.calibration->path().string()},
          {"kind", plan.calibration->kind() == CalibrationFile::Kind::activations ? "activations" : "statistics"},
          {"entries", plan.calibration->names().size()}};
    }
    std::ofstream out(o.report);
    out << json.dump(2) << '\n';
    if (!out) throw Error(ErrorCode::io, o.report + ": cannot write the report");
  }
}

// A format or a mix name; otherwise a usage error listing both.
CLI::Validator type_validator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        if (find_mix(name)) return {};
        try {
          parse_format(name);
          return {};
        } catch (const Error& e) {
          return std::string(e.what()) + "; mixes: " + mix_names();
        }
      },
      "TYPE");
}

CLI::Validator rule_validator() {
  return CLI::Validator(
      [](std::string& spec) -> std::string {
        try {
          TensorRule::parse(spec);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      "PATTERN=FORMAT");
}

CLI::App* register_quantize(CLI::App& app, const std::shared_ptr<QuantizeOptions>& o) {
  auto* cmd = app.add_subcommand("quantize", "Quantize every tensor of a safetensors or GGUF model into a GGUF file");
  cmd->footer(
      "Tensors are matched against --keep patterns, then --rule patterns, in the order given; the first\n"
      "match decides. Patterns are globs (*, ?, [a-z]) on the whole name, or 're:' + a regular expression.\n"
      "Unmatched tensors get --type, except 1-D tensors (biases, norms) and non-float tensors, which are\n"
      "kept. In a GGUF file, rows that are not whole blocks fall back as llama-quantize's do: a\n"
      "256-block format to its 32-block partner (q4_K to q5_0, ...), else f16.\n"
      "Example: qlinear quantize model.safetensors model.gguf --type q4_0 --rule '*.attn.*=q8_0'\n"
      "\n"
      "Mixes (llama-quantize's file types; any letter case; q3_K, q4_K, q5_K mean their _M mix):\n"
      "  " + mix_names() + "\n"
      "On a GGUF model with llama.cpp's tensor names, a mix (the legacy types q4_0 ... q8_0 too) picks\n"
      "each tensor's type as llama-quantize does: output.weight in q6_K, attn_v and ffn_down of some\n"
      "layers with more bits, fallbacks for rows that are not whole blocks; --rule and --keep still\n"
      "win, --pure gives every tensor the base format. See docs/mixes.md.\n"
      "\n"
      "Calibration: --calibration FILE gives each weight's real inputs X (an activations file) or their\n"
      "statistics (a file from `qlinear calibrate`), by weight name. --method gptq compensates each\n"
      "tensor's rounding errors through XᵀX; a tensor without data in FILE gets --method search and the\n"
      "report says so. The report's out.err is ‖X(W−Q)ᵀ‖ / ‖X·Wᵀ‖ on those inputs.\n"
      "Example: qlinear quantize model.safetensors model.gguf --type q4_0 --method gptq \\\n"
      "           --calibration acts.safetensors\n"
      "\n"
      "Sharded models: the input may be a folder, a safetensors index or the first file of a GGUF split;\n"
      "all shards are read as one model. --split-max-size 4G or --split-max-tensors N writes the output\n"
      "as llama.cpp's gguf-split would split it (OUT-00001-of-0000N.gguf ..., llama.cpp loads the first),\n"
      "or, for .safetensors, as Hugging Face shards with OUT.safetensors.index.json.\n"
      "Example: qlinear quantize llama-70b/ llama-70b-q4_0.gguf --type q4_0 --split-max-size 4G\n"
      "--jobs N keeps N tensors in flight (the same bytes). `qlinear plan` fixes a run up front; then\n"
      "`quantize --plan PLAN --shard K` writes its file K anywhere, and --resume skips complete files\n"
      "(docs/scale.md).\n"
      "\n"
      "Size budget: --target-bpw B measures every tensor that --type would quantize under every\n"
      "candidate format that can hold its rows in the output, then gives each the one that minimizes\n"
      "the total error with the file's bits per weight (every byte written, over every weight, as the\n"
      "report counts it) at most B. The error is ‖X(W−Q)ᵀ‖² on --calibration data where a tensor has\n"
      "some, else Σ imp·(w−q)² with --imatrix, else Σ (w−q)², each with --method. --rule and --keep\n"
      "still decide their tensors (their bytes count); --type (a mix too) cannot be given with it.\n"
      "--candidates lists formats (i4/i8 with layout words: i4/g64, i4/channel, i8/g32/asym/mse; words\n"
      "left out come from --asymmetric/--granularity/--group-size/--clip); default: q2_K..q6_K, iq4_xs,\n"
      "q4_0..q5_1, q8_0, iq4_nl, i4 with mse clipping (symmetric per channel and in groups of ~128\n"
      "and ~64 inputs, asymmetric per channel and in groups of ~64 and ~32), i8/channel, and f16\n"
      "from 8.5 bits up. --dry-run prints each tensor's choice and alternatives. See docs/budget.md.\n"
      "Example: qlinear quantize model.safetensors model.gguf --target-bpw 4.8 --calibration acts.safetensors");
  cmd->add_option("input", o->input,
                  "safetensors or GGUF file, or a sharded model: a folder, a NAME.safetensors.index.json, "
                  "or the first file of a GGUF split (NAME-00001-of-0000N.gguf); required unless --plan");
  cmd->add_option("output", o->output,
                  "output file: .gguf (any format) or .safetensors (f32/f16/bf16); required unless --plan")
      ->check(output_file_validator());
  cmd->add_option("-t,--type", o->type, "format of the quantized tensors, or a mix (q4_k_m, ...)")
      ->check(type_validator())
      ->capture_default_str();
  cmd->add_flag("--pure", o->pure, "with a mix: every tensor in its base format, no per-tensor rules");
  cmd->add_option("--rule", o->rules, "PATTERN=FORMAT or PATTERN=keep (repeatable)")->check(rule_validator());
  cmd->add_option("--keep", o->keeps, "keep tensors matching PATTERN as they are (repeatable)");
  cmd->add_flag("!--quantize-1d", o->keep_1d, "also quantize 1-D tensors (kept by default)");
  cmd->add_option("--fallback", o->fallback,
                  "format for rows the block format cannot hold in GGUF (default f16, as llama.cpp; "
                  "i8/i4 stay small but only qlinear reads them)")
      ->check(format_name_validator());
  cmd->add_option("--imatrix", o->imatrix,
                  "importance matrix from llama.cpp's llama-imatrix (.gguf or legacy .dat): tensors with an "
                  "entry are quantized with it (q4_0..q5_1, K- and i-quants; i8/i4 with --clip mse)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--method", o->method,
                  "how codes are chosen: reference (ggml's bytes), search (per block, the scales with the least "
                  "weighted error), gptq (error compensation through the inputs' XᵀX; needs --calibration)")
      ->check(CLI::IsMember({"reference", "search", "gptq"}))
      ->capture_default_str();
  cmd->add_option("--damping", o->damping, "gptq: fraction of mean(diag XᵀX) added to the diagonal")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            try {
              return std::stod(v) >= 0 ? "" : "the damping must be >= 0, got " + v;
            } catch (const std::exception&) {
              return "not a number: " + v;
            }
          },
          "FRACTION"))
      ->capture_default_str();
  auto* split_size =
      cmd->add_option("--split-max-size", o->split_max_size,
                      "split the output into files of at most SIZE of tensor data (4G, 500M, 64K: decimal "
                      "units, as llama.cpp's gguf-split): OUT-00001-of-0000N.gguf, or safetensors shards "
                      "and OUT.safetensors.index.json")
          ->check(CLI::Validator(
              [](std::string& v) -> std::string {
                return parse_split_size(v) ? "" : "'" + v + "' is not a size (a positive number, then K, M, G or T)";
              },
              "SIZE"));
  cmd->add_option("--split-max-tensors", o->split_max_tensors,
                  "split the output into files of at most N tensors each, as gguf-split does")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->excludes(split_size);
  cmd->add_option("-j,--jobs", o->jobs,
                  "tensors in flight at once: each read and quantized on a thread of its own while earlier "
                  "ones are written (the same bytes as --jobs 1; memory for up to N tensors)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}))
      ->capture_default_str();
  cmd->add_option("--target-bpw", o->target_bpw,
                  "size budget: choose each tensor's format for the least total error within this many bits "
                  "per weight over the whole file (see below)")
      ->type_name("BITS");
  cmd->add_option("--candidates", o->candidates,
                  "with --target-bpw: the formats it may choose, comma-separated (q4_0,q4_K,i4/g64,...)")
      ->delimiter(',')
      ->type_name("LIST");
  cmd->add_option("--report", o->report, "write the per-tensor report as JSON to this file");
  cmd->add_flag("--dry-run", o->dry_run, "print what would happen to each tensor, write nothing");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress output");
  o->affine.add_to(*cmd, &o->calibration);
  add_threads_option(*cmd);
  auto* plan_file = cmd->add_option("--plan", o->plan_file,
                                    "run a plan written by `qlinear plan` (its input, output and options): every file "
                                    "of it, or the one --shard names")
                        ->check(CLI::ExistingFile);
  cmd->add_option("--shard", o->shard,
                  "with --plan: write output file K (from 1) only, as one piece of the run; its bytes are the "
                  "whole run's")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65535}))
      ->needs(plan_file);
  cmd->add_flag("--resume", o->resume,
                "skip output files that are complete (their FILE.manifest.json, written after each file, "
                "matches their size, checksum and the run's options); write the others");
  cmd->callback([o, cmd] {
    o->type_given = cmd->count("--type") > 0;
    // IN and OUT come from the plan with --plan, and from the command line otherwise.
    if (o->plan_file.empty() && o->input.empty()) throw CLI::RequiredError("input");
    if (o->plan_file.empty() && o->output.empty()) throw CLI::RequiredError("output");
    if (!o->plan_file.empty() && !o->input.empty()) {
      throw CLI::ValidationError("--plan", "takes the input and output from the plan; give neither");
    }
    run_quantize(*o);
  });
  return cmd;
}

// The options of `quantize IN OUT ARGUMENTS...` as the command line would give them.
QuantizeOptions parse_quantize_arguments(const std::string& input, const std::string& output,
                                         const std::vector<std::string>& arguments) {
  CLI::App probe;
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = register_quantize(probe, o);
  cmd->callback([] {});
  std::vector<std::string> args{"quantize", input, output};
  args.insert(args.end(), arguments.begin(), arguments.end());
  std::reverse(args.begin(), args.end());  // CLI11 takes the last first
  probe.parse(args);
  o->type_given = cmd->count("--type") > 0;
  return *o;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// What makes a file's bytes beyond its layout: for --resume without a plan, in the run's id.
std::vector<std::string> byte_options(const QuantizeOptions& o) {
  return {"method=" + o.method, "damping=" + std::to_string(o.damping), "imatrix=" + o.imatrix,
          "calibration=" + o.calibration, "affine=" + o.affine.describe(), "type=" + o.type,
          "target-bpw=" + o.target_bpw, "candidates=" + join(o.candidates, ",")};
}

// --plan and --resume: the run's files one by one, each as only_file, skipping complete ones.
void run_pieces(const QuantizeOptions& given) {
  QuantizeOptions o = given;
  RunPlan run;
  if (!given.plan_file.empty()) {
    run = read_run_plan(given.plan_file);
    o = parse_quantize_arguments(run.input.string(), run.output.string(), run.arguments);
    o.quiet = given.quiet;
    o.resume = given.resume;
    if (given.jobs != 1) o.jobs = given.jobs;  // how fast, not what: the bytes are the same
  }
  const QuantPlan plan = make_plan(o);
  const OutputOptions options = make_output_options(o);
  const RunLayout layout = run_layout(o.input, o.output, plan, options);
  if (!given.plan_file.empty()) {
    check_run_plan(run, given.plan_file, layout);
  } else {
    run = make_run_plan(o.input, o.output, byte_options(o), layout);
  }
  std::vector<std::size_t> pieces;
  if (given.shard != 0) {
    if (given.shard > layout.files.size()) {
      throw Error(ErrorCode::invalid_argument, "--shard " + std::to_string(given.shard) + ": " + given.plan_file +
                                                   " has " + std::to_string(layout.files.size()) + " output files");
    }
    pieces = {given.shard - 1};
  } else {
    for (std::size_t k = 0; k < layout.files.size(); ++k) pieces.push_back(k);
  }
  for (const std::size_t k : pieces) {
    const auto& file = layout.files[k];
    if (o.resume && done(file, run.id)) {
      std::cout << "complete already: " << file.string() << "\n";
      continue;
    }
    OutputOptions piece = options;
    if (options.split()) piece.only_file = k;
    Progress progress("file " + std::to_string(k + 1) + "/" + std::to_string(layout.files.size()), o.quiet);
    const ModelReport report = quantize_model(
        o.input, o.output, plan, [&](const ModelProgress& p) { progress.update(p); }, piece);
    progress.finish();
    write_manifest(file, run.id);
    for (const auto& f : report.files) std::cout << "wrote " << f.string() << "\n";
  }
}

}  // namespace

void add_quantize_command(CLI::App& app) { register_quantize(app, std::make_shared<QuantizeOptions>()); }

void add_plan_command(CLI::App& app) {
  struct PlanOptions {
    std::string input, output, plan;
  };
  auto p = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand(
      "plan", "Fix every decision of a quantize run up front, so that its output files can be written anywhere");
  cmd->footer(
      "After IN OUT come quantize's options (--type, --rule, --split-max-size, ...). The plan file holds them,\n"
      "each tensor's format and output file, and a checksum of it all. Then each file is written by\n"
      "  qlinear quantize --plan PLAN --shard K      (K = 1 .. the number of files)\n"
      "as separate processes, in any order, on machines that share the input and output folders: the files\n"
      "are those of the one-process run, byte for byte. A piece refuses an input that no longer gives the\n"
      "plan's decisions. `qlinear quantize --plan PLAN --resume` writes the files not yet complete.\n"
      "Example: qlinear plan model/ out.gguf --type q4_0 --split-max-size 4G -o plan.json");
  cmd->add_option("input", p->input, "the model, as quantize takes it")->required();
  cmd->add_option("output", p->output, "the output, as quantize takes it")->required()->check(output_file_validator());
  cmd->add_option("-o,--output-plan", p->plan, "the plan file to write (JSON)")->required();
  cmd->allow_extras();
  cmd->callback([p, cmd] {
    const std::vector<std::string> arguments = cmd->remaining();
    const QuantizeOptions o = parse_quantize_arguments(p->input, p->output, arguments);
    const RunLayout layout = run_layout(o.input, o.output, make_plan(o), make_output_options(o));
    const RunPlan run = make_run_plan(o.input, o.output, arguments, layout);
    write_run_plan(p->plan, run);
    Table table({{"file"}, {"name", Table::Align::left}, {"tensors"}, {"tensor bytes"}});
    for (std::size_t k = 0; k < layout.files.size(); ++k) {
      const auto n = std::count(layout.file_of.begin(), layout.file_of.end(), k);
      table.add_row({std::to_string(k + 1), layout.files[k].filename().string(), format_count(std::uint64_t(n)),
                     layout.file_bytes[k] ? format_count(layout.file_bytes[k]) : ""});
    }
    table.print(std::cout);
    std::cout << "wrote " << p->plan << ": " << layout.files.size() << " file(s); write each with: qlinear quantize --plan "
              << p->plan << " --shard K\n";
  });
}

}  // namespace qlinear::cli
