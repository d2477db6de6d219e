// qlinear_write_corpus DIR: writes the valid seeds and the malformed corpus as files, one folder per
// reader (DIR/gguf, DIR/safetensors, DIR/axqt, DIR/imatrix), to seed the fuzz targets.

#include "corpus/malformed_corpus.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

void write(const std::filesystem::path& dir, qlinear::test::Reader reader, const std::string& name,
           const std::vector<std::byte>& bytes) {
  const auto folder = dir / std::string(qlinear::test::reader_name(reader));
  std::filesystem::create_directories(folder);
  std::ofstream out(folder / (name + std::string(qlinear::test::reader_extension(reader))), std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (folder / name).string());
}

// Seeds of fuzz_shards (its first byte picks the check; see fuzz_shards.cpp).
std::size_t write_shard_seeds(const std::filesystem::path& dir) {
  const std::string index =
      "{\"metadata\": {\"total_size\": 96}, \"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", "
      "\"b.weight\": \"model-00002-of-00002.safetensors\", \"c.bias\": \"model-00001-of-00002.safetensors\"}}";
  std::string keys;  // two shards of a split of two, 3 tensors in all: all keys present
  for (int shard = 0; shard < 2; ++shard) {
    keys += {'\x07', static_cast<char>(shard), '\0', '\x02', '\0', '\x03', '\0', '\0', '\0', static_cast<char>(shard + 1)};
  }
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"index_consistent", std::string("\x00\x00", 2) + index},
      {"index_moved", std::string("\x01\x81", 2) + index},
      {"index_dropped", std::string("\x01\x01", 2) + index},
      {"split_keys", std::string("\x02\x00", 2) + keys},
      {"split_name", std::string("\x02\x00", 2) + "model-00002-of-00003.gguf"}};
  const auto folder = dir / "shards";
  std::filesystem::create_directories(folder);
  for (const auto& [name, text] : seeds) {
    std::ofstream out(folder / name, std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) throw std::runtime_error("cannot write " + (folder / name).string());
  }
  return seeds.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: qlinear_write_corpus DIR\n";
    return 2;
  }
  try {
    std::size_t count = 0;
    for (const auto& seed : qlinear::test::valid_seed_files()) {
      write(argv[1], seed.reader, seed.name, seed.bytes);
      ++count;
    }
    for (const auto& c : qlinear::test::malformed_corpus()) {
      write(argv[1], c.reader, c.name, c.bytes);
      ++count;
    }
    count += write_shard_seeds(argv[1]);
    std::cout << "wrote " << count << " files under " << argv[1] << "\n";
  } catch (const std::exception& e) {
    std::cerr << "qlinear_write_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
