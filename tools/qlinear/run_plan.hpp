#pragma once
// Plans of a quantization run (`qlinear plan`) and running them piece by piece (`qlinear quantize
// --plan FILE --shard K`, `--resume`): what each output file will hold, fixed before anything is
// read, checked again by every piece against the input it finds, and a manifest beside each file
// written, so that a rerun skips what is complete.

#include <qlinear/model.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace qlinear::cli {

// What a run writes: each tensor's decision and file (from 0), and the files.
struct RunLayout {
  std::vector<TensorDecision> decisions;
  std::vector<std::size_t> file_of;
  std::vector<std::filesystem::path> files;  // the output files, the safetensors index not included
  std::vector<std::uint64_t> file_bytes;     // tensor data per file
};
RunLayout run_layout(const std::filesystem::path& input, const std::filesystem::path& output, const QuantPlan& plan,
                     const OutputOptions& options);

// A plan file: the run's input, output and quantize options (as given on the command line), and
// its layout, which every piece checks.
struct RunPlan {
  std::filesystem::path input, output;
  std::vector<std::string> arguments;
  std::string layout;  // the layout as JSON text
  std::string id;      // a checksum of all of it: a manifest names the plan it completes
};
RunPlan make_run_plan(const std::filesystem::path& input, const std::filesystem::path& output,
                      std::vector<std::string> arguments, const RunLayout& layout);
void write_run_plan(const std::filesystem::path& path, const RunPlan& plan);
// Error(malformed_file) naming the file when it is not a plan qlinear wrote.
RunPlan read_run_plan(const std::filesystem::path& path);
// Error(invalid_argument) naming the first difference when `layout` (made now, from the input as
// it is) is not the plan's.
void check_run_plan(const RunPlan& plan, const std::filesystem::path& plan_path, const RunLayout& layout);

// The manifest beside an output file (FILE.manifest.json): its size and checksum, and the plan.
// done() is true when the file and its manifest exist and match and the manifest names `plan_id`.
bool done(const std::filesystem::path& file, const std::string& plan_id);
void write_manifest(const std::filesystem::path& file, const std::string& plan_id);
std::filesystem::path manifest_path(const std::filesystem::path& file);

}  // namespace qlinear::cli
