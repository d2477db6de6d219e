// qlinear inspect FILE: what a GGUF, safetensors or AXQT file holds, as tables or JSON.

#include "commands.hpp"
#include "model/shards.hpp"
#include "model/source.hpp"

#include <qlinear/axqt.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace qlinear::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  std::size_t max_items = 8;
  bool all = false;
};

std::string magic_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path + ": cannot open for reading");
  char magic[4] = {};
  in.read(magic, 4);
  return std::string(magic, static_cast<std::size_t>(in.gcount()));
}

nlohmann::json gguf_metadata_json(const GgufFile& file, const InspectOptions& o) {
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [key, value] : file.metadata()) {
    metadata[key] = {{"type", gguf_value_type_name(value.type())}, {"value", value.to_display_string(o.max_items, 4096)}};
  }
  return metadata;
}

void print_gguf_metadata(const GgufFile& file, const InspectOptions& o) {
  Table meta({{"key", Table::Align::left}, {"type", Table::Align::left}, {"value", Table::Align::left}});
  std::size_t affine_keys = 0;
  for (const auto& [key, value] : file.metadata()) {
    // Each affine tensor carries five keys of layout; the tensor table already lists them.
    if (!o.all && key.starts_with("qlinear.affine.")) {
      ++affine_keys;
      continue;
    }
    std::string type(gguf_value_type_name(value.type()));
    if (value.type() == GgufValueType::array) type += "[" + std::string(gguf_value_type_name(value.element_type())) + "]";
    meta.add_row({key, type, value.to_display_string(o.max_items, 80)});
  }
  if (affine_keys != 0) {
    meta.add_row({"qlinear.affine.*", "", std::to_string(affine_keys) + " keys: the layout of the i8/i4 tensors (--all lists them)"});
  }
  meta.print(std::cout);
  std::cout << '\n';
}

// A model in several files (a folder, a safetensors index, a GGUF split): its shards, the first
// shard's metadata, and every tensor with the shard that holds it.
void inspect_shards(const InspectOptions& o) {
  const auto source = model::ModelSource::open(o.path);
  const auto paths = source->shard_paths();
  const auto& tensors = source->tensors();
  std::vector<std::uint64_t> shard_tensors(paths.size()), shard_bytes(paths.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    ++shard_tensors[source->shard_of(i)];
    shard_bytes[source->shard_of(i)] += tensors[i].nbytes;
    total += tensors[i].nbytes;
  }
  const char* kind = source->gguf() ? "GGUF split" : "safetensors shards";
  if (o.json) {
    nlohmann::json shards = nlohmann::json::array(), list = nlohmann::json::array();
    for (std::size_t k = 0; k < paths.size(); ++k) {
      shards.push_back({{"file", paths[k].string()}, {"tensors", shard_tensors[k]}, {"bytes", shard_bytes[k]}});
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      list.push_back({{"name", tensors[i].name}, {"shape", tensors[i].shape}, {"type", tensors[i].format_in},
                      {"bytes", tensors[i].nbytes}, {"shard", source->shard_of(i) + 1}});
    }
    nlohmann::json out{{"file", o.path}, {"format", kind}, {"shards", shards}, {"tensors", list}};
    if (source->gguf()) out["metadata"] = gguf_metadata_json(*source->gguf(), o);
    if (source->safetensors()) out["metadata"] = source->safetensors()->metadata();
    std::cout << out.dump(2) << '\n';
    return;
  }
  std::cout << o.path << ": " << kind << ", " << paths.size() << " files, " << tensors.size() << " tensors, "
            << format_count(total) << " bytes of tensor data\n\n";
  Table files({{"shard"}, {"file", Table::Align::left}, {"tensors"}, {"bytes"}});
  for (std::size_t k = 0; k < paths.size(); ++k) {
    files.add_row({std::to_string(k + 1), paths[k].filename().string(), format_count(shard_tensors[k]),
                   format_count(shard_bytes[k])});
  }
  files.print(std::cout);
  std::cout << '\n';
  if (source->gguf()) print_gguf_metadata(*source->gguf(), o);
  Table table({{"tensor", Table::Align::left}, {"shape", Table::Align::left}, {"format", Table::Align::left},
               {"bytes"}, {"shard"}});
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    table.add_row({tensors[i].name, format_shape(tensors[i].shape), tensors[i].format_in,
                   format_count(tensors[i].nbytes), std::to_string(source->shard_of(i) + 1)});
  }
  table.add_separator();
  table.add_row({"TOTAL", std::to_string(tensors.size()) + " tensors", "", format_count(total), ""});
  table.print(std::cout);
}

void inspect_gguf(const InspectOptions& o) {
  const GgufFile file = GgufFile::open(o.path);
  if (!model::gguf_split_files(file).empty()) return inspect_shards(o);
  if (o.json) {
    const nlohmann::json metadata = gguf_metadata_json(file, o);
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : file.tensors()) {
      tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"type", ggml_type_name(t.ggml_type)},
                         {"ggml_type", t.ggml_type}, {"bytes", t.nbytes}, {"offset", t.offset}});
    }
    std::cout << nlohmann::json{{"file", o.path}, {"format", "gguf"}, {"version", file.version()},
                                {"alignment", file.alignment()}, {"data_offset", file.data_offset()},
                                {"file_size", file.file_size()}, {"metadata", metadata}, {"tensors", tensors}}
                     .dump(2)
              << '\n';
    return;
  }
  std::cout << o.path << ": GGUF v" << file.version() << ", " << file.tensors().size() << " tensors, "
            << file.metadata().size() << " metadata keys, alignment " << file.alignment() << ", "
            << format_count(file.file_size()) << " bytes\n\n";
  print_gguf_metadata(file, o);
  Table tensors({{"tensor", Table::Align::left}, {"shape", Table::Align::left}, {"format", Table::Align::left},
                 {"bytes"}, {"offset"}});
  std::uint64_t total = 0;
  for (const auto& t : file.tensors()) {
    std::string format(ggml_type_name(t.ggml_type));
    if (const GgufValue* affine = file.find("qlinear.affine." + t.name + ".format")) {
      format = affine->as_string() + " codes (" + format + ")";  // the codes of a qlinear affine tensor
    }
    tensors.add_row({t.name, format_shape(t.shape), format,
                     format_count(t.nbytes), format_count(file.data_offset() + t.offset)});
    total += t.nbytes;
  }
  tensors.add_separator();
  tensors.add_row({"TOTAL", std::to_string(file.tensors().size()) + " tensors", "", format_count(total), ""});
  tensors.print(std::cout);
}

void inspect_safetensors(const InspectOptions& o) {
  const SafetensorsFile file = SafetensorsFile::open(o.path);
  if (o.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : file.tensors()) {
      tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"bytes", t.end - t.begin},
                         {"offset", t.begin}});
    }
    std::cout << nlohmann::json{{"file", o.path}, {"format", "safetensors"}, {"metadata", file.metadata()},
                                {"tensors", tensors}}
                     .dump(2)
              << '\n';
    return;
  }
  std::cout << o.path << ": safetensors, " << file.tensors().size() << " tensors\n\n";
  if (!file.metadata().empty()) {
    Table meta({{"key", Table::Align::left}, {"value", Table::Align::left}});
    for (const auto& [key, value] : file.metadata()) meta.add_row({key, value});
    meta.print(std::cout);
    std::cout << '\n';
  }
  Table tensors({{"tensor", Table::Align::left}, {"shape", Table::Align::left}, {"dtype", Table::Align::left},
                 {"bytes"}, {"offset"}});
  std::uint64_t total = 0;
  for (const auto& t : file.tensors()) {
    tensors.add_row({t.name, format_shape(t.shape), t.dtype, format_count(t.end - t.begin), format_count(t.begin)});
    total += t.end - t.begin;
  }
  tensors.add_separator();
  tensors.add_row({"TOTAL", std::to_string(file.tensors().size()) + " tensors", "", format_count(total), ""});
  tensors.print(std::cout);
}

void inspect_axqt(const InspectOptions& o) {
  const AxqtFile file = AxqtFile::open(o.path);
  if (o.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : file.tensors()) {
      tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"quant_type", t.quant_type}});
    }
    std::cout << nlohmann::json{{"file", o.path}, {"format", "axqt"}, {"version", file.version()},
                                {"quant_type", file.quant_type()}, {"total_params", file.total_params()},
                                {"tensors", tensors}}
                     .dump(2)
              << '\n';
    return;
  }
  std::cout << o.path << ": AXQT v" << int(file.version()) << ", " << file.quant_type() << ", "
            << file.tensors().size() << " tensors, " << format_count(file.total_params()) << " parameters\n\n";
  Table tensors({{"tensor", Table::Align::left}, {"shape", Table::Align::left}, {"format", Table::Align::left}});
  for (const auto& t : file.tensors()) tensors.add_row({t.name, format_shape(t.shape), t.quant_type});
  tensors.print(std::cout);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show the metadata and tensors of a GGUF, safetensors or AXQT file");
  cmd->add_option("file", o->path,
                  "the file, or a sharded model: a folder, a safetensors index, the first file of a GGUF split")
      ->required();
  cmd->add_flag("--json", o->json, "print JSON instead of tables");
  cmd->add_option("--max-items", o->max_items, "array items to show before abbreviating")->capture_default_str();
  cmd->add_flag("--all", o->all, "list every metadata key (the qlinear.affine.* layout keys too)");
  cmd->callback([o] {
    if (std::filesystem::is_directory(o->path) || std::filesystem::path(o->path).extension() == ".json") {
      const model::ModelFiles files = model::find_model_files(o->path);
      if (files.kind != model::ModelFiles::Kind::single) return inspect_shards(*o);
      o->path = files.files[0].string();  // a folder of one file
    }
    const std::string magic = magic_of(o->path);
    if (magic == "GGUF") {
      inspect_gguf(*o);
    } else if (magic == "AXQT") {
      inspect_axqt(*o);
    } else {
      inspect_safetensors(*o);
    }
  });
}

}  // namespace qlinear::cli
