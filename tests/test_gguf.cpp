// GGUF: writer → reader round trips of metadata and tensors, the layout ggml's reader requires, hand-
// made files read as the specification says, and writes that stop half-way.

#include "corpus/byte_builder.hpp"
#include "io/gguf_parser.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/gguf.hpp>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>

namespace qlinear {
namespace {

using T = GgufValueType;
using test::ByteBuilder;
using test::TempDir;
using test::error_code_of;

std::vector<std::pair<std::string, GgufValue>> every_value_type() {
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"t.u8", GgufValue::u8(255)},
      {"t.i8", GgufValue::i8(-128)},
      {"t.u16", GgufValue::u16(65535)},
      {"t.i16", GgufValue::i16(-32768)},
      {"t.u32", GgufValue::u32(4294967295u)},
      {"t.i32", GgufValue::i32(std::numeric_limits<std::int32_t>::min())},
      {"t.f32", GgufValue::f32(-1.5e-7f)},
      {"t.f32_negative_zero", GgufValue::f32(-0.0f)},
      {"t.bool_true", GgufValue::boolean(true)},
      {"t.bool_false", GgufValue::boolean(false)},
      {"t.string", GgufValue::string("héllo, wörld")},
      {"t.string_empty", GgufValue::string("")},
      {"t.string_with_nul", GgufValue::string(std::string("a\0b", 3))},
      {"t.u64", GgufValue::u64(std::numeric_limits<std::uint64_t>::max())},
      {"t.i64", GgufValue::i64(std::numeric_limits<std::int64_t>::min())},
      {"t.f64", GgufValue::f64(3.141592653589793)},
      {"t.array_empty", GgufValue::array(T::i32, {})},
      {"t.array_strings", GgufValue::array(T::string, {GgufValue::string("<s>"), GgufValue::string(""),
                                                       GgufValue::string("▁the")})},
      {"t.array_bool", GgufValue::array(T::boolean, {GgufValue::boolean(true), GgufValue::boolean(false)})},
  };
  kv.emplace_back("t.array_u8", GgufValue::array(T::u8, {GgufValue::u8(0), GgufValue::u8(200)}));
  kv.emplace_back("t.array_i8", GgufValue::array(T::i8, {GgufValue::i8(-1), GgufValue::i8(127)}));
  kv.emplace_back("t.array_u16", GgufValue::array(T::u16, {GgufValue::u16(1), GgufValue::u16(65000)}));
  kv.emplace_back("t.array_i16", GgufValue::array(T::i16, {GgufValue::i16(-300)}));
  kv.emplace_back("t.array_u32", GgufValue::array(T::u32, {GgufValue::u32(7), GgufValue::u32(8)}));
  kv.emplace_back("t.array_i32", GgufValue::array(T::i32, {GgufValue::i32(-7), GgufValue::i32(8)}));
  kv.emplace_back("t.array_f32", GgufValue::array(T::f32, {GgufValue::f32(0.25f), GgufValue::f32(-1e30f)}));
  kv.emplace_back("t.array_u64", GgufValue::array(T::u64, {GgufValue::u64(1ull << 40)}));
  kv.emplace_back("t.array_i64", GgufValue::array(T::i64, {GgufValue::i64(-(1ll << 40))}));
  kv.emplace_back("t.array_f64", GgufValue::array(T::f64, {GgufValue::f64(1e-300), GgufValue::f64(-2.5)}));
  return kv;
}

TEST(GgufWriter, MetadataOfEveryTypeRoundTrips) {
  TempDir dir;
  const auto path = dir / "meta.gguf";
  const auto kv = every_value_type();
  {
    GgufWriter w(path);
    for (const auto& [k, v] : kv) w.set(k, v);
    w.set("t.u8", GgufValue::u8(255));  // replacing keeps the first position
    w.write_header();
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), kv.size());
  for (std::size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, kv[i].first);
    EXPECT_EQ(f.metadata()[i].second, kv[i].second) << kv[i].first;
    ASSERT_NE(f.find(kv[i].first), nullptr);
    EXPECT_EQ(*f.find(kv[i].first), kv[i].second);
  }
  EXPECT_EQ(f.find("t.absent"), nullptr);
  EXPECT_EQ(f.find("t.string_with_nul")->as_string().size(), 3u);
}

// n pseudo-random elements of `type`: every bit pattern of the numbers (NaNs with payloads among the
// floats), strings of 0 to 40 bytes of any value.
std::vector<GgufValue> random_elements(T type, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GgufValue> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng();
    switch (type) {
      case T::u8: out.push_back(GgufValue::u8(static_cast<std::uint8_t>(r))); break;
      case T::i8: out.push_back(GgufValue::i8(static_cast<std::int8_t>(r))); break;
      case T::u16: out.push_back(GgufValue::u16(static_cast<std::uint16_t>(r))); break;
      case T::i16: out.push_back(GgufValue::i16(static_cast<std::int16_t>(r))); break;
      case T::u32: out.push_back(GgufValue::u32(static_cast<std::uint32_t>(r))); break;
      case T::i32: out.push_back(GgufValue::i32(static_cast<std::int32_t>(r))); break;
      case T::u64: out.push_back(GgufValue::u64(r)); break;
      case T::i64: out.push_back(GgufValue::i64(static_cast<std::int64_t>(r))); break;
      case T::f32: out.push_back(GgufValue::f32(std::bit_cast<float>(static_cast<std::uint32_t>(r)))); break;
      case T::f64: out.push_back(GgufValue::f64(std::bit_cast<double>(r))); break;
      case T::boolean: out.push_back(GgufValue::boolean((r & 1) != 0)); break;
      case T::string: {
        std::string s(r % 41, '\0');
        for (char& c : s) c = static_cast<char>(rng());
        out.push_back(GgufValue::string(std::move(s)));
        break;
      }
      case T::array: break;
    }
  }
  return out;
}

// Arrays as long as real vocabularies, of every element type, through the writer and back.
TEST(GgufWriter, LargeArraysOfEveryTypeRoundTrip) {
  constexpr std::size_t n = 200000;
  const T types[] = {T::u8, T::i8, T::u16, T::i16, T::u32, T::i32, T::u64, T::i64, T::f32, T::f64,
                     T::boolean, T::string};
  TempDir dir;
  const auto path = dir / "large.gguf";
  {
    GgufWriter w(path);
    for (const T type : types) {
      w.set("large." + std::string(gguf_value_type_name(type)),
            GgufValue::array(type, random_elements(type, n, static_cast<std::uint64_t>(type))));
    }
    w.write_header();
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  for (const T type : types) {
    const std::string key = "large." + std::string(gguf_value_type_name(type));
    const GgufValue* value = f.find(key);
    ASSERT_NE(value, nullptr) << key;
    ASSERT_EQ(value->element_type(), type) << key;
    ASSERT_EQ(value->array_size(), n) << key;
    const auto expected = random_elements(type, n, static_cast<std::uint64_t>(type));
    EXPECT_TRUE(*value == GgufValue::array(type, expected)) << key;
    std::size_t first_difference = n;
    for (std::size_t i = 0; i < n && first_difference == n; ++i) {
      if (!(value->array_element(i) == expected[i])) first_difference = i;
    }
    EXPECT_EQ(first_difference, n) << key;
    EXPECT_TRUE(value->as_array() == expected) << key;
  }
}

TEST(GgufWriter, ReplacingAKeyKeepsItsPlace) {
  TempDir dir;
  const auto path = dir / "replace.gguf";
  GgufWriter w(path);
  w.set("a", GgufValue::u32(1));
  w.set("b", GgufValue::u32(2));
  w.set("a", GgufValue::string("one"));
  w.write_header();
  w.finish();
  const GgufFile f = GgufFile::open(path);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "a");
  EXPECT_EQ(f.metadata()[0].second, GgufValue::string("one"));
}

struct WrittenTensor {
  std::string name;
  QuantizedTensor q;
  std::vector<float> source;
};

// Every qlinear block format (and f32/f16/bf16) through GgufWriter and back.
TEST(GgufWriter, TensorsOfEveryBlockFormatRoundTripByteForByte) {
  TempDir dir;
  const auto path = dir / "tensors.gguf";
  std::vector<WrittenTensor> written;
  std::uint64_t seed = 1;
  for (const FormatInfo& info : all_formats()) {
    if (info.affine) continue;
    const std::size_t rows = 3, cols = 256;  // a whole super-block of the K-quants
    auto w = test::gaussian(rows * cols, seed++, 0.5f);
    written.push_back({"w." + std::string(info.name), quantize(w, rows, cols, info.format), w});
  }
  {
    GgufWriter w(path);
    w.set("general.architecture", GgufValue::string("test"));
    for (const auto& t : written) {
      w.add_tensor(t.name, {t.q.rows(), t.q.cols()}, ggml_type_for(t.q.format()));
    }
    w.write_header();
    for (const auto& t : written) w.write_tensor_data(t.name, gguf_tensor_bytes(t.q));
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  ASSERT_EQ(f.tensors().size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    const auto& t = written[i];
    const GgufTensorInfo& info = f.tensors()[i];
    EXPECT_EQ(info.name, t.name);
    EXPECT_EQ(info.shape, (std::vector<std::uint64_t>{3, 256}));
    EXPECT_EQ(info.format(), t.q.format());
    EXPECT_EQ(info.nbytes, t.q.data().size());
    const auto bytes = f.tensor_data(info);
    ASSERT_EQ(bytes.size(), t.q.data().size());
    EXPECT_EQ(std::memcmp(bytes.data(), t.q.data().data(), bytes.size()), 0) << t.name;
    const QuantizedTensor back = f.tensor(t.name);
    EXPECT_EQ(back.format(), t.q.format());
    EXPECT_EQ(back.rows(), 3u);
    EXPECT_EQ(back.cols(), 256u);
    ASSERT_EQ(back.data().size(), t.q.data().size());
    EXPECT_EQ(std::memcmp(back.data().data(), t.q.data().data(), back.data().size()), 0) << t.name;
    EXPECT_EQ(f.tensor_f32(t.name), dequantize(t.q)) << t.name;
  }
}

TEST(GgufWriter, ShapesAreOutermostFirstAndStoredReversed) {
  TempDir dir;
  const auto path = dir / "shapes.gguf";
  const std::vector<std::uint64_t> shape = {2, 3, 4, 32};
  std::vector<float> values(2 * 3 * 4 * 32);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  {
    GgufWriter w(path);
    w.add_tensor("x", shape, 0);
    w.add_tensor("b", {5}, 0);
    w.write_header();
    w.write_tensor_data("x", std::as_bytes(std::span(values)));
    w.write_tensor_data("b", std::as_bytes(std::span(values).first(5)));
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.find_tensor("x")->shape, shape);
  EXPECT_EQ(f.find_tensor("x")->element_count(), values.size());
  EXPECT_EQ(f.tensor("x").rows(), 24u);
  EXPECT_EQ(f.tensor("x").cols(), 32u);
  EXPECT_EQ(f.tensor_f32("x"), values);
  EXPECT_EQ(f.tensor("b").rows(), 1u);
  EXPECT_EQ(f.tensor("b").cols(), 5u);
  // ne[0] (the innermost, 32) comes first in the tensor info.
  const auto bytes = test::read_bytes(path);
  const std::size_t info = 24;  // no metadata: the first tensor info follows the 24-byte header
  std::uint64_t ne0 = 0;
  std::memcpy(&ne0, bytes.data() + info + 8 + 1 + 4, 8);
  EXPECT_EQ(ne0, 32u);
}

// The checks ggml's reader makes on the data layout, done here on the bytes independently of
// qlinear's reader: the data section starts at a multiple of the alignment, tensor i sits at the sum
// of the earlier tensors' sizes rounded up to the alignment, padding is zero, and the file ends with
// the last tensor's padding.
void expect_ggml_layout(const std::filesystem::path& path, std::uint64_t alignment) {
  const auto bytes = test::read_bytes(path);
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  std::uint64_t expected = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.offset, expected) << t.name;
    EXPECT_LE(t.name.size(), 63u);
    EXPECT_LE(t.shape.size(), 4u);
    const std::uint64_t padded = (t.nbytes + alignment - 1) / alignment * alignment;
    for (std::uint64_t i = t.nbytes; i < padded; ++i) {
      EXPECT_EQ(bytes[f.data_offset() + t.offset + i], std::byte{0}) << t.name << " pad " << i;
    }
    expected += padded;
  }
  EXPECT_EQ(bytes.size(), f.data_offset() + expected);
  if (alignment != 32) {
    ASSERT_NE(f.find("general.alignment"), nullptr);
    EXPECT_EQ(f.find("general.alignment")->type(), T::u32);
  } else {
    EXPECT_EQ(f.find("general.alignment"), nullptr);
  }
}

TEST(GgufWriter, LayoutIsWhatGgmlsReaderRequires) {
  for (std::uint64_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
    TempDir dir;
    const auto path = dir / "layout.gguf";
    const auto a = quantize(test::gaussian(2 * 32, 3), 2, 32, Format::q4_0);   // 36 bytes
    const auto b = quantize(test::gaussian(3, 4), 1, 3, Format::f16);           // 6 bytes
    const auto c = quantize(test::gaussian(7 * 64, 5), 7, 64, Format::q5_1);    // 336 bytes
    {
      GgufWriter w(path, alignment);
      w.set("general.architecture", GgufValue::string("llama"));
      w.add_tensor("a", {2, 32}, 2);
      w.add_tensor("b", {3}, 1);
      w.add_tensor("c", {7, 64}, 7);
      w.write_header();
      w.write_tensor_data("a", gguf_tensor_bytes(a));
      w.write_tensor_data("b", gguf_tensor_bytes(b));
      w.write_tensor_data("c", gguf_tensor_bytes(c));
      w.finish();
    }
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    expect_ggml_layout(path, alignment);
    // Alignment 1 puts f16 and q5_1 data at odd addresses: reading must not assume alignment.
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.tensor_f32("b"), dequantize(b));
    EXPECT_EQ(f.tensor_f32("c"), dequantize(c));
  }
}

TEST(GgufWriter, AlignmentFromMetadataIsUsed) {
  TempDir dir;
  const auto path = dir / "aligned.gguf";
  const std::vector<float> v(8, 1.0f);
  {
    GgufWriter w(path);
    w.set("general.alignment", GgufValue::u32(128));
    w.add_tensor("a", {8}, 0);
    w.add_tensor("b", {8}, 0);
    w.write_header();
    w.write_tensor_data("a", std::as_bytes(std::span(v)));
    w.write_tensor_data("b", std::as_bytes(std::span(v)));
    w.finish();
  }
  expect_ggml_layout(path, 128);
  EXPECT_EQ(GgufFile::open(path).find_tensor("b")->offset, 128u);
}

TEST(GgufWriter, RefusesWhatGgmlCannotRead) {
  TempDir dir;
  GgufWriter w(dir / "refused.gguf");
  std::string message;
  EXPECT_EQ(error_code_of([&] { w.add_tensor(std::string(64, 'n'), {32}, 0); }, &message), ErrorCode::invalid_argument);
  EXPECT_NE(message.find("63"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { w.add_tensor("", {32}, 0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("q", {2, 33}, 2); }, &message), ErrorCode::invalid_argument);
  EXPECT_NE(message.find("block size 32"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { w.add_tensor("z", {0, 32}, 0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("s", {}, 0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("d", {1, 1, 1, 1, 1}, 0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("u", {32}, 99); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("r", {32}, 4); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("o", {1ull << 32, 1ull << 32}, 0); }), ErrorCode::invalid_argument);
  w.add_tensor("ok", {32}, 0);
  EXPECT_EQ(error_code_of([&] { w.add_tensor("ok", {32}, 0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.set("", GgufValue::u8(1)); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.set("general.alignment", GgufValue::u64(64)); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.set("general.alignment", GgufValue::u32(48)); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] {
              w.set("nested", GgufValue::array(T::array, {GgufValue::array(T::u8, {})}));
            }),
            ErrorCode::unsupported);
  EXPECT_EQ(error_code_of([&] { GgufWriter bad(dir / "x.gguf", 48); }), ErrorCode::invalid_argument);
}

TEST(GgufWriter, TensorDataMustFollowTheDeclaration) {
  TempDir dir;
  GgufWriter w(dir / "order.gguf");
  const std::vector<float> v(32, 0.0f);
  w.add_tensor("a", {32}, 0);
  w.add_tensor("b", {32}, 0);
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("a", std::as_bytes(std::span(v))); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.finish(); }), ErrorCode::invalid_argument);
  w.write_header();
  EXPECT_EQ(error_code_of([&] { w.set("late", GgufValue::u8(1)); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("b", std::as_bytes(std::span(v))); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("a", std::as_bytes(std::span(v).first(31))); }),
            ErrorCode::size_mismatch);
  w.write_tensor_data("a", std::as_bytes(std::span(v)));
  EXPECT_EQ(error_code_of([&] { w.finish(); }), ErrorCode::invalid_argument);
  w.write_tensor_data("b", std::as_bytes(std::span(v)));
  EXPECT_EQ(error_code_of([&] { w.write_tensor_data("c", std::as_bytes(std::span(v))); }), ErrorCode::invalid_argument);
  w.finish();
  EXPECT_TRUE(std::filesystem::exists(dir / "order.gguf"));
}

TEST(GgufWriter, InterruptedWriteLeavesNoFileAndKeepsAnOldOne) {
  TempDir dir;
  const auto path = dir / "model.gguf";
  const std::vector<float> v(32, 2.0f);
  {  // destroyed before finish(): nothing under the target name, no temporary file left
    GgufWriter w(path);
    w.add_tensor("a", {32}, 0);
    w.write_header();
    w.write_tensor_data("a", std::as_bytes(std::span(v)));
    const auto during = dir.entries();  // only a hidden temporary file beside the target
    ASSERT_EQ(during.size(), 1u);
    EXPECT_EQ(during[0].rfind(".model.gguf.tmp-", 0), 0u) << during[0];
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(dir.entries().empty());

  const std::vector<std::byte> old = {std::byte{'o'}, std::byte{'l'}, std::byte{'d'}};
  test::write_bytes(path, old);
  try {  // an exception half-way through
    GgufWriter w(path);
    w.add_tensor("a", {32}, 0);
    w.add_tensor("b", {32}, 0);
    w.write_header();
    w.write_tensor_data("a", std::as_bytes(std::span(v)));
    w.write_tensor_data("b", std::as_bytes(std::span(v).first(3)));  // throws
    w.finish();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::size_mismatch);
  }
  EXPECT_EQ(test::read_bytes(path), old);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});

  {  // finish() replaces the old file
    GgufWriter w(path);
    w.add_tensor("a", {32}, 0);
    w.write_header();
    w.write_tensor_data("a", std::as_bytes(std::span(v)));
    w.finish();
  }
  EXPECT_EQ(GgufFile::open(path).tensor_f32("a"), v);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});
}

TEST(GgufWriter, UnwritableFolderIsAnIoError) {
  EXPECT_EQ(error_code_of([] { GgufWriter w("/nonexistent-folder/x.gguf"); }), ErrorCode::io);
}

TEST(GgufFile, MissingFileIsAnIoError) {
  std::string message;
  EXPECT_EQ(error_code_of([] { (void)GgufFile::open("/nonexistent.gguf"); }, &message), ErrorCode::io);
  EXPECT_NE(message.find("/nonexistent.gguf"), std::string::npos);
  TempDir dir;
  EXPECT_EQ(error_code_of([&] { (void)GgufFile::open(dir.path()); }), ErrorCode::io);
}

// A file made byte by byte from the specification: a 3-D q4_K tensor qlinear cannot dequantize, an
// f32 tensor, nested arrays, and general.alignment = 16.
std::vector<std::byte> hand_made_gguf() {
  ByteBuilder b;
  b.raw("GGUF").u32(3).u64(2).u64(3);
  b.gguf_string("general.alignment").u32(4).u32(16);
  b.gguf_string("general.architecture").u32(8).gguf_string("llama");
  b.gguf_string("nested").u32(9).u32(9).u64(2);         // array of 2 arrays
  b.u32(5).u64(2).u32(static_cast<std::uint32_t>(-1)).u32(2);  // [-1, 2] as i32
  b.u32(8).u64(1).gguf_string("x");                    // ["x"]
  b.gguf_string("blk.0.k").u32(3).u64(256).u64(2).u64(3).u32(16).u64(0);  // iq2_xxs, ne = [256, 2, 3]
  b.gguf_string("norm").u32(1).u64(3).u32(0).u64(400);                    // f32, ne = [3], aligned
  b.pad_to(16);
  for (int i = 0; i < 6 * 66; ++i) b.u8(static_cast<std::uint8_t>(i));
  b.pad_to(16);
  b.f32(1.0f).f32(-2.0f).f32(0.5f);
  return b.take();
}

TEST(GgufFile, ReadsAHandMadeFile) {
  TempDir dir;
  const auto path = dir / "hand.gguf";
  test::write_bytes(path, hand_made_gguf());
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 16u);
  EXPECT_EQ(f.data_offset() % 16, 0u);
  EXPECT_EQ(f.find("general.architecture")->as_string(), "llama");
  const GgufValue& nested = *f.find("nested");
  EXPECT_EQ(nested.element_type(), T::array);
  ASSERT_EQ(nested.array_size(), 2u);
  EXPECT_EQ(nested.array_element(0).array_element(0).as_i64(), -1);
  EXPECT_EQ(nested.array_element(0).array_element(1).as_i64(), 2);
  EXPECT_EQ(nested.array_element(1).array_element(0).as_string(), "x");
  EXPECT_EQ(nested.as_array(), (std::vector<GgufValue>{GgufValue::array(T::i32, {GgufValue::i32(-1), GgufValue::i32(2)}),
                                                       GgufValue::array(T::string, {GgufValue::string("x")})}));
  EXPECT_EQ(nested, GgufValue::array(T::array, nested.as_array()));
  EXPECT_EQ(nested.to_display_string(), "[[-1, 2], [\"x\"]]");

  const GgufTensorInfo* k = f.find_tensor("blk.0.k");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<std::uint64_t>{3, 2, 256}));
  EXPECT_EQ(k->nbytes, 6u * 66u);
  EXPECT_EQ(k->format(), std::nullopt);  // a ggml type qlinear reads as bytes only
  EXPECT_EQ(f.tensor_data(*k).size(), 6u * 66u);
  EXPECT_EQ(f.tensor_data(*k)[5], std::byte{5});
  std::string message;
  EXPECT_EQ(error_code_of([&] { (void)f.tensor("blk.0.k"); }, &message), ErrorCode::unsupported);
  EXPECT_NE(message.find("unsupported tensor type 16 in tensor blk.0.k (ggml iq2_xxs"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { (void)f.tensor_f32("blk.0.k"); }), ErrorCode::unsupported);
  EXPECT_EQ(f.tensor_f32("norm"), (std::vector<float>{1.0f, -2.0f, 0.5f}));
  EXPECT_EQ(error_code_of([&] { (void)f.tensor("absent"); }), ErrorCode::invalid_argument);
  EXPECT_EQ(f.find_tensor("absent"), nullptr);
}

// A GGUF file in memory with one metadata entry, key "v", an array whose element type, count and
// element bytes `array` writes; `array_bytes` is set to their size in the file.
std::shared_ptr<const io::MappedFile> file_with_array(const std::function<void(ByteBuilder&)>& array,
                                                      std::size_t& array_bytes) {
  ByteBuilder b;
  b.raw("GGUF").u32(3).u64(0).u64(1);
  b.gguf_string("v").u32(static_cast<std::uint32_t>(T::array));
  const std::size_t start = b.size();
  array(b);
  array_bytes = b.size() - start;
  return io::MappedFile::from_bytes("memory.gguf", b.take());
}

// A hostile file cannot make the reader allocate out of proportion to it: each kind of array, with
// the element that takes the most memory for its bytes in the file, takes less than 3 times its
// bytes in the file. (When every element was a GgufValue of its own, a u8 array took 72 times.)
TEST(GgufFile, ArraysTakeLessMemoryThanThreeTimesTheirBytesInTheFile) {
  constexpr std::size_t big = 50'000'000;
  constexpr std::size_t small = 5'000'000;  // for the arrays built element by element: quicker under ASan
  const std::vector<std::pair<std::string, std::function<void(ByteBuilder&)>>> cases = {
      {"u8", [](ByteBuilder& b) { b.u32(0).u64(big).repeat(7, big); }},
      {"bool", [](ByteBuilder& b) { b.u32(7).u64(big).repeat(1, big); }},
      {"f64", [](ByteBuilder& b) { b.u32(12).u64(big / 8).repeat(0x3f, big / 8 * 8); }},
      {"empty strings", [](ByteBuilder& b) { b.u32(8).u64(big / 8).repeat(0, big / 8 * 8); }},
      {"one-byte strings",
       [](ByteBuilder& b) {
         b.u32(8).u64(small / 9);
         for (std::size_t i = 0; i < small / 9; ++i) b.u64(1).u8('a');
       }},
      {"empty arrays",
       [](ByteBuilder& b) {
         b.u32(9).u64(small / 12);
         for (std::size_t i = 0; i < small / 12; ++i) b.u32(0).u64(0);
       }},
      {"arrays of one empty string",
       [](ByteBuilder& b) {
         b.u32(9).u64(small / 20);
         for (std::size_t i = 0; i < small / 20; ++i) b.u32(8).u64(1).u64(0);
       }},
  };
  for (const auto& [name, array] : cases) {
    std::size_t array_bytes = 0;
    const GgufFile f = io::GgufParser::parse(file_with_array(array, array_bytes));
    const GgufValue& value = *f.find("v");
    EXPECT_LT(value.memory_bytes(), 3 * array_bytes) << name << ": " << value.memory_bytes() << " bytes in memory for "
                                                     << array_bytes << " in the file";
    EXPECT_GT(value.array_size(), 200'000u) << name;
  }
}

// What the process really allocates while reading, not what the values say they hold: the peak
// resident memory (VmHWM, restarted from the current use by writing 5 to clear_refs) grows by less
// than 3 times the array. Not under AddressSanitizer, whose own memory would be counted.
#if !defined(__SANITIZE_ADDRESS__)
std::uint64_t status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  }
  return 0;
}

TEST(GgufFile, ReadingAHugeArrayRaisesPeakMemoryByLessThanThreeTimesIt) {
  constexpr std::size_t big = 50'000'000;
  std::size_t array_bytes = 0;
  const auto file = file_with_array([](ByteBuilder& b) { b.u32(0).u64(big).repeat(7, big); }, array_bytes);
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.close();
  const std::uint64_t before = status_kib("VmRSS");
  if (!clear_refs || before == 0) GTEST_SKIP() << "this system cannot restart the peak-memory count";
  const GgufFile f = io::GgufParser::parse(file);
  const std::uint64_t peak = status_kib("VmHWM");
  EXPECT_EQ(f.find("v")->array_size(), big);
  EXPECT_LT((peak - before) * 1024, 3 * array_bytes) << "peak " << peak << " KiB, before " << before << " KiB";
}
#endif

TEST(GgufFile, CopiesShareTheMapping) {
  TempDir dir;
  const auto path = dir / "hand.gguf";
  test::write_bytes(path, hand_made_gguf());
  std::span<const std::byte> view;
  GgufFile copy = [&] {
    const GgufFile f = GgufFile::open(path);
    view = f.tensor_data(*f.find_tensor("norm"));
    return f;
  }();
  std::filesystem::remove(path);  // the mapping outlives the name
  EXPECT_EQ(copy.tensor_f32("norm")[1], -2.0f);
  EXPECT_EQ(view.data(), copy.tensor_data(*copy.find_tensor("norm")).data());
}

}  // namespace
}  // namespace qlinear
