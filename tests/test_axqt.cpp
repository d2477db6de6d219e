// AXQT v1: files built byte by byte from the documented layout decode to the floats the layout
// implies, for every quant type axonml-quant can read back.

#include "corpus/byte_builder.hpp"
#include "temp_dir.hpp"

#include <qlinear/axqt.hpp>

#include <gtest/gtest.h>

namespace qlinear {
namespace {

using test::ByteBuilder;

void axqt_header(std::uint8_t type, std::uint32_t tensors, std::uint64_t params, ByteBuilder& b) {
  b.raw("AXQT").u8(1).u8(type).u32(tensors).u64(params);
}

AxqtFile open_bytes(std::vector<std::byte> bytes) {
  test::TempDir dir;
  const auto path = dir / "model.axonml";
  test::write_bytes(path, bytes);
  return AxqtFile::open(path);
}

TEST(Axqt, Q8_0) {
  ByteBuilder b;
  axqt_header(0, 1, 40, b);
  b.u32(1).u32(40).u32(2);
  b.u16(0x3800);  // d = 0.5
  for (int i = 0; i < 32; ++i) b.u8(static_cast<std::uint8_t>(static_cast<std::int8_t>(i - 16)));
  b.u16(0x3400);  // d = 0.25
  for (int i = 0; i < 32; ++i) b.u8(i < 8 ? static_cast<std::uint8_t>(i + 1) : 0);
  const AxqtFile f = open_bytes(b.take());
  EXPECT_EQ(f.version(), 1);
  EXPECT_EQ(f.quant_type(), "Q8_0");
  EXPECT_EQ(f.total_params(), 40u);
  ASSERT_EQ(f.tensors().size(), 1u);
  const AxqtTensor& t = f.tensors()[0];
  EXPECT_EQ(t.name, "tensor_0");
  EXPECT_EQ(t.shape, std::vector<std::uint64_t>{40});
  EXPECT_EQ(t.quant_type, "Q8_0");
  std::vector<float> expected;
  for (int i = 0; i < 32; ++i) expected.push_back(0.5f * static_cast<float>(i - 16));
  for (int i = 0; i < 8; ++i) expected.push_back(0.25f * static_cast<float>(i + 1));
  EXPECT_EQ(t.values, expected);
}

TEST(Axqt, Q4_0PutsTheEvenElementInTheLowNibble) {
  ByteBuilder b;
  axqt_header(1, 1, 6, b);
  b.u32(2).u32(2).u32(3).u32(1);
  b.u16(0x4000);  // d = 2
  // codes 0, 15 | 8, 9 | 7, 3 | padding 8, 8 ...
  b.u8(0xF0).u8(0x98).u8(0x37);
  b.repeat(0x88, 13);
  const AxqtFile f = open_bytes(b.take());
  const AxqtTensor& t = f.tensors()[0];
  EXPECT_EQ(t.shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(t.values, (std::vector<float>{-16.0f, 14.0f, 0.0f, 2.0f, -2.0f, -10.0f}));
}

TEST(Axqt, Q4_1) {
  ByteBuilder b;
  axqt_header(2, 1, 33, b);
  b.u32(1).u32(33).u32(2);
  b.u16(0x3800).u16(0xBC00);  // d = 0.5, m = -1
  for (int i = 0; i < 16; ++i) {
    const int lo = (2 * i) % 16, hi = (2 * i + 1) % 16;
    b.u8(static_cast<std::uint8_t>(lo | (hi << 4)));
  }
  b.u16(0x3C00).u16(0x3400);  // d = 1, m = 0.25
  b.u8(0x03);
  b.repeat(0, 15);
  const AxqtFile f = open_bytes(b.take());
  const AxqtTensor& t = f.tensors()[0];
  ASSERT_EQ(t.values.size(), 33u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(t.values[static_cast<std::size_t>(i)], 0.5f * static_cast<float>(i % 16) - 1.0f) << i;
  EXPECT_EQ(t.values[32], 3.25f);
}

TEST(Axqt, F16AndF32HoldTheWholeTensorInOneBlock) {
  ByteBuilder h;
  axqt_header(5, 1, 3, h);
  h.u32(1).u32(3).u32(1).u16(0x3C00).u16(0xB800).u16(0x7BFF);
  const AxqtFile half = open_bytes(h.take());
  EXPECT_EQ(half.quant_type(), "F16");
  EXPECT_EQ(half.tensors()[0].values, (std::vector<float>{1.0f, -0.5f, 65504.0f}));

  ByteBuilder s;
  axqt_header(6, 2, 7, s);
  s.u32(2).u32(2).u32(2).u32(1).f32(1.5f).f32(-2.0f).f32(0.0f).f32(1e-30f);  // one block of 4 values
  s.u32(1).u32(3).u32(3).f32(7.0f).f32(8.0f).f32(9.0f);                       // one value per block
  const AxqtFile single = open_bytes(s.take());
  ASSERT_EQ(single.tensors().size(), 2u);
  EXPECT_EQ(single.tensors()[0].values, (std::vector<float>{1.5f, -2.0f, 0.0f, 1e-30f}));
  EXPECT_EQ(single.tensors()[1].name, "tensor_1");
  EXPECT_EQ(single.tensors()[1].values, (std::vector<float>{7.0f, 8.0f, 9.0f}));
}

TEST(Axqt, TheCratesWorkedExampleIs102Bytes) {
  // One Q8_0 tensor of shape [2, 32]: 18 + 4 + 8 + 4 + 2 × 34 bytes.
  ByteBuilder b;
  axqt_header(0, 1, 64, b);
  b.u32(2).u32(2).u32(32).u32(2);
  for (int block = 0; block < 2; ++block) b.u16(0x3C00).repeat(1, 32);
  ASSERT_EQ(b.size(), 102u);
  const AxqtFile f = open_bytes(b.take());
  EXPECT_EQ(f.tensors()[0].values, std::vector<float>(64, 1.0f));
}

TEST(Axqt, MissingFileIsAnIoError) {
  try {
    (void)AxqtFile::open("/nonexistent.axonml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::io);
  }
}

}  // namespace
}  // namespace qlinear
