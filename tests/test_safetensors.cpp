// The safetensors reader on the bundled real weights and on small malformed files.

#include "test_support.hpp"

#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <filesystem>

namespace qlinear {
namespace {

TEST(Safetensors, ReadsTheBundledRealWeights) {
  const SafetensorsFile file = SafetensorsFile::open(test::repo_data("ppocrv4_rec_linear.safetensors"));
  EXPECT_EQ(file.tensors().size(), 29u);
  const auto& head = file.tensor("linear_85.w_0");
  EXPECT_EQ(head.dtype, "F32");
  EXPECT_EQ(head.shape, (std::vector<std::uint64_t>{6625, 120}));
  const auto w = file.read_f32("linear_85.w_0");
  ASSERT_EQ(w.size(), 6625u * 120);
  double sum2 = 0;
  for (float v : w) {
    ASSERT_TRUE(std::isfinite(v));
    sum2 += double(v) * v;
  }
  EXPECT_GT(sum2, 0.0);
  EXPECT_THROW(file.tensor("missing"), Error);
}

class MalformedSafetensors : public ::testing::Test {
 protected:
  std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                ("qlinear_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                 "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void TearDown() override { std::filesystem::remove(path_); }

  void write(const std::string& header, std::size_t data_bytes, std::uint64_t declared_length = UINT64_MAX) {
    std::ofstream out(path_, std::ios::binary);
    const std::uint64_t n = declared_length == UINT64_MAX ? header.size() : declared_length;
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header << std::string(data_bytes, '\0');
  }

  void expect_malformed(const std::string& needle) {
    try {
      SafetensorsFile::open(path_);
      ADD_FAILURE() << "no error; expected " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::malformed_file) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
};

TEST_F(MalformedSafetensors, EachBrokenRuleIsNamed) {
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
  EXPECT_EQ(SafetensorsFile::open(path_).read_f32("a").size(), 4u);  // the well-formed base case

  write("{}", 0, 1000);
  expect_malformed("header length 1000 exceeds the file");
  write("{\"a\":", 0);
  expect_malformed("not valid JSON");
  write("[1, 2]", 0);
  expect_malformed("not a JSON object");
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16);
  expect_malformed("needs 16");
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 8);
  expect_malformed("outside the data section");
  write("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
  expect_malformed("unknown dtype 'Q4'");
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
  expect_malformed("overlap");
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8);
  expect_malformed("overflows");
  write("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8);
  expect_malformed("non-negative");
  write("{\"__metadata__\":{\"k\":1}}", 0);
  expect_malformed("not a string");
}

TEST_F(MalformedSafetensors, ShortAndMissingFiles) {
  std::ofstream(path_, std::ios::binary) << "abc";
  expect_malformed("too short");
  try {
    SafetensorsFile::open(path_.string() + ".absent");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::io);
  }
}

}  // namespace
}  // namespace qlinear
