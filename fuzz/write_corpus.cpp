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
    std::cout << "wrote " << count << " files under " << argv[1] << "\n";
  } catch (const std::exception& e) {
    std::cerr << "qlinear_write_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
