// safetensors: writer → reader round trips (F32, F16, BF16 and metadata), hand-made headers, the
// bundled weights, and writes that stop half-way.

#include "core/half.hpp"
#include "corpus/byte_builder.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <cstring>

namespace qlinear {
namespace {

using test::TempDir;
using test::error_code_of;

std::vector<std::byte> encode(const std::vector<float>& v, const std::string& dtype) {
  std::vector<std::byte> out;
  for (float x : v) {
    if (dtype == "F32") {
      const auto* p = reinterpret_cast<const std::byte*>(&x);
      out.insert(out.end(), p, p + 4);
    } else {
      const std::uint16_t h = dtype == "F16" ? core::fp32_to_fp16(x) : core::fp32_to_bf16(x);
      out.push_back(static_cast<std::byte>(h & 0xff));
      out.push_back(static_cast<std::byte>(h >> 8));
    }
  }
  return out;
}

float round_trip(float x, const std::string& dtype) {
  if (dtype == "F16") return core::fp16_to_fp32(core::fp32_to_fp16(x));
  if (dtype == "BF16") return core::bf16_to_fp32(core::fp32_to_bf16(x));
  return x;
}

TEST(SafetensorsWriter, F32F16Bf16RoundTrip) {
  TempDir dir;
  const auto path = dir / "model.safetensors";
  struct Spec {
    std::string name, dtype;
    std::vector<std::uint64_t> shape;
    std::vector<float> values;
  };
  std::vector<Spec> specs = {
      {"layer.0.weight", "F32", {3, 5}, test::gaussian(15, 1)},
      {"layer.0.bias", "F16", {5}, test::gaussian(5, 2)},
      {"layer.1.weight", "BF16", {2, 3, 4}, test::gaussian(24, 3)},
      {"scalar", "F32", {}, {42.0f}},
      {"empty", "F16", {0, 4}, {}},
  };
  {
    SafetensorsWriter w(path);
    w.set_metadata("format", "pt");
    w.set_metadata("note", "ünïcode");
    for (const auto& s : specs) w.add_tensor(s.name, s.dtype, s.shape);
    w.write_header();
    for (const auto& s : specs) w.write_tensor_data(s.name, encode(s.values, s.dtype));
    w.finish();
  }
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.data_offset() % 8, 0u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "ünïcode");
  ASSERT_EQ(f.tensors().size(), specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    const SafetensorsTensorInfo& info = f.tensors()[i];
    EXPECT_EQ(info.name, s.name);
    EXPECT_EQ(info.dtype, s.dtype);
    EXPECT_EQ(info.shape, s.shape);
    EXPECT_EQ(f.find(s.name), &info);
    const auto bytes = f.tensor_data(info);
    const auto expected_bytes = encode(s.values, s.dtype);
    ASSERT_EQ(bytes.size(), expected_bytes.size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), expected_bytes.begin())) << s.name;
    const auto values = f.read_f32(s.name);
    ASSERT_EQ(values.size(), s.values.size());
    for (std::size_t j = 0; j < values.size(); ++j) EXPECT_EQ(values[j], round_trip(s.values[j], s.dtype));
  }
  // The header is JSON padded with spaces, and the file ends with the last tensor.
  const auto raw = test::read_bytes(path);
  EXPECT_EQ(raw[8], std::byte{'{'});
  EXPECT_EQ(raw.size(), f.data_offset() + f.tensors().back().end);
}

TEST(SafetensorsWriter, RefusesBadDeclarationsAndOrder) {
  TempDir dir;
  SafetensorsWriter w(dir / "x.safetensors");
  EXPECT_EQ(error_code_of([&] { w.add_tensor("", "F32", {1}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("__metadata__", "F32", {1}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("a", "F33", {1}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("a", "F32", {1ull << 62, 8}); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("a", "F4", {3}); }), ErrorCode::invalid_argument);
  w.add_tensor("a", "F32", {2});
  w.add_tensor("b", "F16", {2});
  EXPECT_EQ(error_code_of([&] { w.add_tensor("a", "F32", {2}); }), ErrorCode::invalid_argument);
  w.write_header();
  const std::vector<std::byte> four(4), eight(8);
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("b", four); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("a", four); }), ErrorCode::size_mismatch);
  w.write_tensor_data("a", eight);
  EXPECT_EQ(error_code_of([&] { w.finish(); }), ErrorCode::invalid_argument);
}

TEST(SafetensorsWriter, InterruptedWriteLeavesNoFileAndKeepsAnOldOne) {
  TempDir dir;
  const auto path = dir / "w.safetensors";
  const std::vector<std::byte> eight(8);
  {
    SafetensorsWriter w(path);
    w.add_tensor("a", "F32", {2});
    w.write_header();
    w.write_tensor_data("a", eight);
  }
  EXPECT_TRUE(dir.entries().empty());
  const std::vector<std::byte> old = {std::byte{1}, std::byte{2}};
  test::write_bytes(path, old);
  try {
    SafetensorsWriter w(path);
    w.add_tensor("a", "F32", {2});
    w.write_header();
    throw std::runtime_error("stopped half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(test::read_bytes(path), old);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"w.safetensors"});
}

TEST(SafetensorsFile, ReadsAHandMadeFileInAnyHeaderOrder) {
  TempDir dir;
  const auto path = dir / "hand.safetensors";
  // Tensors listed out of offset order, whitespace around the JSON, an extra unknown field.
  const std::string header =
      "  {\"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [8, 12], \"x\": 1},"
      " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}} ";
  test::ByteBuilder b;
  b.u64(header.size()).raw(header).f32(1.5f).f32(-2.0f).u16(0x3f80).u16(0xc000);
  test::write_bytes(path, b.take());
  const SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].name, "b");  // header order
  EXPECT_EQ(f.read_f32("a"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(error_code_of([&] { (void)f.read_f32("c"); }), ErrorCode::invalid_argument);
}

TEST(SafetensorsFile, OtherDtypesOpenButDoNotConvert) {
  TempDir dir;
  const auto path = dir / "i8.safetensors";
  const std::string header = "{\"q\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}";
  test::ByteBuilder b;
  b.u64(header.size()).raw(header).u8(1).u8(2).u8(3);
  test::write_bytes(path, b.take());
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.tensor_data(f.tensor("q")).size(), 3u);
  EXPECT_EQ(error_code_of([&] { (void)f.read_f32("q"); }), ErrorCode::unsupported);
}

TEST(SafetensorsFile, ReadsTheBundledWeights) {
  const SafetensorsFile f = SafetensorsFile::open(test::repo_data("ppocrv4_rec_linear.safetensors"));
  ASSERT_FALSE(f.tensors().empty());
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(f.read_f32(t.name).size(), t.element_count()) << t.name;
  }
}

}  // namespace
}  // namespace qlinear
