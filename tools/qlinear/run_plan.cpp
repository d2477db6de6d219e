// Plans and their pieces: see run_plan.hpp.

#include "run_plan.hpp"

#include "io/atomic_file.hpp"
#include "model/plan.hpp"
#include "model/source.hpp"
#include "model/split_output.hpp"

#include <qlinear/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

namespace qlinear::cli {
namespace {

using Json = nlohmann::ordered_json;

// FNV-1a, 64 bits: enough to tell a complete file from a torn or stale one (not an adversary).
struct Fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void add(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
  }
  std::string hex() const {
    char s[17];
    std::snprintf(s, sizeof(s), "%016llx", static_cast<unsigned long long>(h));
    return s;
  }
};

std::string file_checksum(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open for reading");
  std::vector<char> buffer(std::size_t{1} << 20);
  Fnv f;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    f.add(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  return f.hex();
}

void write_atomically(const std::filesystem::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(std::as_bytes(std::span(text.data(), text.size())));
  file.commit();
}

Json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open for reading");
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::malformed_file, path.string() + ": not JSON: " + e.what());
  }
}

Json layout_json(const RunLayout& layout) {
  Json files = Json::array(), tensors = Json::array();
  std::vector<std::size_t> counts(layout.files.size());
  for (const std::size_t f : layout.file_of) ++counts[f];
  for (std::size_t k = 0; k < layout.files.size(); ++k) {
    files.push_back({{"file", layout.files[k].filename().string()}, {"tensors", counts[k]},
                     {"tensor_bytes", layout.file_bytes[k]}});
  }
  for (std::size_t i = 0; i < layout.decisions.size(); ++i) {
    const TensorDecision& d = layout.decisions[i];
    tensors.push_back({{"name", d.name}, {"shape", d.shape}, {"format_in", d.format_in},
                       {"format_out", d.target ? std::string(format_name(*d.target)) : d.format_in},
                       {"reason", d.reason}, {"file", layout.file_of[i] + 1}});
  }
  return {{"files", files}, {"tensors", tensors}};
}

std::string plan_id(const RunPlan& p) {
  Fnv f;
  const std::string text = Json{{"input", p.input.string()}, {"output", p.output.string()},
                                {"arguments", p.arguments}, {"layout", p.layout}}.dump();
  f.add(text.data(), text.size());
  return f.hex();
}

}  // namespace

RunLayout run_layout(const std::filesystem::path& input, const std::filesystem::path& output, const QuantPlan& plan,
                     const OutputOptions& options) {
  const auto source = model::ModelSource::open(input);
  const bool gguf_output = output.extension() != ".safetensors";
  RunLayout layout;
  layout.decisions = model::decide_all(*source, plan, gguf_output);
  if (options.split()) {
    const auto tensors = model::split_layout(*source, layout.decisions, gguf_output);
    auto files = model::split_files(tensors, output, options, gguf_output);
    layout.file_of = std::move(files.shard_of);
    layout.files = std::move(files.paths);
    layout.file_bytes.assign(layout.files.size(), 0);
    for (std::size_t i = 0; i < tensors.size(); ++i) layout.file_bytes[layout.file_of[i]] += tensors[i].bytes;
  } else {
    layout.file_of.assign(layout.decisions.size(), 0);
    layout.files = {output};
    layout.file_bytes = {0};  // not split: sizes are the report's
  }
  return layout;
}

RunPlan make_run_plan(const std::filesystem::path& input, const std::filesystem::path& output,
                      std::vector<std::string> arguments, const RunLayout& layout) {
  RunPlan p;
  p.input = std::filesystem::absolute(input).lexically_normal();
  p.output = std::filesystem::absolute(output).lexically_normal();
  p.arguments = std::move(arguments);
  p.layout = layout_json(layout).dump();
  p.id = plan_id(p);
  return p;
}

void write_run_plan(const std::filesystem::path& path, const RunPlan& p) {
  const Json json{{"qlinear_plan", 1},         {"id", p.id},
                  {"input", p.input.string()}, {"output", p.output.string()},
                  {"arguments", p.arguments},  {"layout", Json::parse(p.layout)}};
  write_atomically(path, json.dump(2) + "\n");
}

RunPlan read_run_plan(const std::filesystem::path& path) {
  const Json json = read_json(path);
  const auto malformed = [&](const std::string& what) {
    throw Error(ErrorCode::malformed_file, path.string() + ": not a plan written by qlinear plan: " + what);
  };
  if (!json.is_object() || json.value("qlinear_plan", 0) != 1) malformed("no \"qlinear_plan\": 1");
  try {
    RunPlan p;
    p.input = json.at("input").get<std::string>();
    p.output = json.at("output").get<std::string>();
    p.arguments = json.at("arguments").get<std::vector<std::string>>();
    p.layout = json.at("layout").dump();
    p.id = plan_id(p);
    if (json.at("id").get<std::string>() != p.id) malformed("its id is not the checksum of its contents (edited?)");
    return p;
  } catch (const Json::exception& e) {
    malformed(e.what());
  }
  return {};
}

void check_run_plan(const RunPlan& plan, const std::filesystem::path& plan_path, const RunLayout& layout) {
  const Json now = layout_json(layout), then = Json::parse(plan.layout);
  if (now == then) return;
  const auto mismatch = [&](const std::string& what) {
    throw Error(ErrorCode::invalid_argument, plan_path.string() + ": the plan does not match the input " +
                                                 plan.input.string() + ": " + what);
  };
  const Json &a = then["tensors"], &b = now["tensors"];
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) mismatch("tensor " + std::to_string(i + 1) + ": planned " + a[i].dump() + ", now " + b[i].dump());
  }
  if (a.size() != b.size()) {
    mismatch("the plan has " + std::to_string(a.size()) + " tensors, the input " + std::to_string(b.size()));
  }
  mismatch("planned files " + then["files"].dump() + ", now " + now["files"].dump());
}

std::filesystem::path manifest_path(const std::filesystem::path& file) {
  std::filesystem::path m = file;
  m += ".manifest.json";
  return m;
}

bool done(const std::filesystem::path& file, const std::string& id) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || !std::filesystem::exists(manifest_path(file))) return false;
  try {
    const Json m = read_json(manifest_path(file));
    return m.at("plan").get<std::string>() == id && m.at("bytes").get<std::uint64_t>() == size &&
           m.at("fnv1a64").get<std::string>() == file_checksum(file);
  } catch (const std::exception&) {
    return false;  // a torn or foreign manifest: the file is made again
  }
}

void write_manifest(const std::filesystem::path& file, const std::string& id) {
  const Json m{{"file", file.filename().string()},
               {"bytes", std::filesystem::file_size(file)},
               {"fnv1a64", file_checksum(file)},
               {"plan", id}};
  write_atomically(manifest_path(file), m.dump(2) + "\n");
}

}  // namespace qlinear::cli
