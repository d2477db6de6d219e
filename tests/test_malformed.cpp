// Hostile files: every case of the malformed corpus gives its ErrorCode and message; every valid seed
// opens; each seed cut at every length, and each seed with any single byte changed, gives a
// qlinear::Error or a valid file, never a crash or another exception.

#include "corpus/malformed_corpus.hpp"
#include "io/axqt_parser.hpp"
#include "io/gguf_parser.hpp"
#include "io/imatrix_parser.hpp"
#include "io/safetensors_parser.hpp"
#include "model/calibration_parser.hpp"
#include "temp_dir.hpp"

#include <qlinear/axqt.hpp>
#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <set>

namespace qlinear {
namespace {

using test::Reader;

// A calibration file is checked in two steps: its header when it opens, each entry's values when
// they are read; both count here.
void read_entries(const CalibrationFile& file) {
  for (const auto& name : file.names()) (void)file.calibration(name);
}

void open_path(Reader reader, const std::filesystem::path& path) {
  switch (reader) {
    case Reader::gguf: (void)GgufFile::open(path); break;
    case Reader::safetensors: (void)SafetensorsFile::open(path); break;
    case Reader::axqt: (void)AxqtFile::open(path); break;
    case Reader::imatrix: (void)ImportanceMatrix::open(path); break;
    case Reader::calibration: read_entries(CalibrationFile::open(path)); break;
  }
}

void open_bytes(Reader reader, std::vector<std::byte> bytes) {
  auto file = io::MappedFile::from_bytes("memory" + std::string(test::reader_extension(reader)), std::move(bytes));
  switch (reader) {
    case Reader::gguf: (void)io::GgufParser::parse(std::move(file)); break;
    case Reader::safetensors: (void)io::SafetensorsParser::parse(std::move(file)); break;
    case Reader::axqt: (void)io::AxqtParser::parse(std::move(file)); break;
    case Reader::imatrix: (void)io::ImatrixParser::parse(std::move(file)); break;
    case Reader::calibration: read_entries(model::CalibrationParser::parse(std::move(file))); break;
  }
}

TEST(MalformedCorpus, EveryCaseGivesItsErrorCodeAndMessage) {
  test::TempDir dir;
  const auto cases = test::malformed_corpus();
  ASSERT_GE(cases.size(), 80u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto path = dir / (c.name + std::string(test::reader_extension(c.reader)));
    test::write_bytes(path, c.bytes);
    try {
      open_path(c.reader, path);
      ADD_FAILURE() << c.name << ": opened without an error";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(error_code_name(e.code()), error_code_name(c.expected)) << message;
      EXPECT_NE(message.find(c.message), std::string::npos) << "'" << c.message << "' not in: " << message;
      EXPECT_EQ(message.rfind(path.string(), 0), 0u) << "the message must start with the file: " << message;
    }
  }
}

TEST(MalformedCorpus, CaseNamesAreUnique) {
  std::set<std::string> names;
  for (const auto& c : test::malformed_corpus()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
  for (const auto& s : test::valid_seed_files()) EXPECT_TRUE(names.insert(s.name).second) << s.name;
}

TEST(MalformedCorpus, ValidSeedsOpen) {
  test::TempDir dir;
  for (const auto& s : test::valid_seed_files()) {
    const auto path = dir / (s.name + std::string(test::reader_extension(s.reader)));
    test::write_bytes(path, s.bytes);
    EXPECT_NO_THROW(open_path(s.reader, path)) << s.name;
  }
  const auto seeds = test::valid_seed_files();
  const auto gguf = io::GgufParser::parse(io::MappedFile::from_bytes("seed", seeds[0].bytes));
  EXPECT_EQ(gguf.tensors().size(), 2u);
  EXPECT_EQ(gguf.find("tokenizer.ggml.tokens")->array_size(), 2u);
}

bool is_gguf(const test::SeedFile& seed) {
  return seed.reader == Reader::gguf ||
         ((seed.reader == Reader::imatrix || seed.reader == Reader::calibration) && seed.bytes.size() >= 4 && std::memcmp(seed.bytes.data(), "GGUF", 4) == 0);
}

// The shortest prefix of a seed that still opens: the whole file, except for GGUF, whose last
// tensor's padding may be missing (and whose header padding may be, when it has no tensors).
std::size_t shortest_valid_prefix(const test::SeedFile& seed) {
  if (!is_gguf(seed)) return seed.bytes.size();
  const auto f = io::GgufParser::parse(io::MappedFile::from_bytes("seed", seed.bytes));
  if (f.tensors().empty()) return 0;  // decided by the scan below
  return f.data_offset() + f.tensors().back().offset + f.tensors().back().nbytes;
}

TEST(MalformedCorpus, EveryTruncationIsAnErrorNeverACrash) {
  for (const auto& seed : test::valid_seed_files()) {
    SCOPED_TRACE(seed.name);
    // A legacy importance matrix opens at three lengths, its trailer being optional: ImportanceMatrix's
    // own tests check exactly which.
    if (seed.reader == Reader::imatrix && !is_gguf(seed)) continue;
    const std::size_t shortest = shortest_valid_prefix(seed);
    std::size_t first_ok = seed.bytes.size();
    for (std::size_t length = 0; length < seed.bytes.size(); ++length) {
      std::vector<std::byte> cut(seed.bytes.begin(), seed.bytes.begin() + static_cast<std::ptrdiff_t>(length));
      try {
        open_bytes(seed.reader, std::move(cut));
        if (first_ok == seed.bytes.size()) first_ok = length;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::malformed_file) << "length " << length << ": " << e.what();
        EXPECT_EQ(first_ok, seed.bytes.size()) << "length " << length << " fails after a shorter prefix opened";
      }
    }
    if (shortest > 0) {
      EXPECT_EQ(first_ok, shortest);
    } else {
      const auto f = io::GgufParser::parse(io::MappedFile::from_bytes("seed", seed.bytes));
      EXPECT_GT(first_ok + f.alignment(), f.data_offset());  // only header padding may be missing
    }
  }
}

TEST(MalformedCorpus, EverySingleByteChangeIsHandled) {
  for (const auto& seed : test::valid_seed_files()) {
    SCOPED_TRACE(seed.name);
    for (std::size_t i = 0; i < seed.bytes.size(); ++i) {
      for (const std::uint8_t delta : {0x01, 0x80, 0xff}) {
        auto bytes = seed.bytes;
        bytes[i] = static_cast<std::byte>(static_cast<std::uint8_t>(bytes[i]) + delta);
        try {
          open_bytes(seed.reader, std::move(bytes));
        } catch (const Error&) {
          // any qlinear::Error is a correct answer; anything else fails the test
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlinear
