// GgufValue: constructors, typed accessors with range checks, display strings, equality; and the
// tables that map ggml type ids to names, formats and llama.cpp file types.

#include <qlinear/gguf.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace qlinear {
namespace {

using T = GgufValueType;

TEST(GgufValue, IntegersConvertWhenTheValueFits) {
  EXPECT_EQ(GgufValue::u8(255).as_u64(), 255u);
  EXPECT_EQ(GgufValue::i8(-128).as_i64(), -128);
  EXPECT_EQ(GgufValue::i16(-2).as_i64(), -2);
  EXPECT_EQ(GgufValue::u32(4000000000u).as_i64(), 4000000000);
  EXPECT_EQ(GgufValue::i64(std::numeric_limits<std::int64_t>::min()).as_i64(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(GgufValue::u64(std::numeric_limits<std::uint64_t>::max()).as_u64(),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(GgufValue::i32(5).is_integer());
  EXPECT_FALSE(GgufValue::f32(5).is_integer());
  EXPECT_FALSE(GgufValue::boolean(true).is_integer());
}

TEST(GgufValue, OutOfRangeOrWrongTypeThrows) {
  auto code = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;
  };
  EXPECT_EQ(code([] { (void)GgufValue::i32(-1).as_u64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::u64(1ull << 63).as_i64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::string("x").as_u64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::u8(1).as_string(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::u8(1).as_bool(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::u8(1).as_array(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::u8(1).element_type(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::string("1").as_f64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([] { (void)GgufValue::array(T::u32, {GgufValue::u32(1), GgufValue::i32(2)}); }),
            ErrorCode::invalid_argument);
}

TEST(GgufValue, FloatsAndBools) {
  EXPECT_EQ(GgufValue::f32(0.1f).as_f64(), static_cast<double>(0.1f));
  EXPECT_EQ(GgufValue::f64(0.1).as_f64(), 0.1);
  EXPECT_EQ(GgufValue::i8(-3).as_f64(), -3.0);
  EXPECT_TRUE(GgufValue::boolean(true).as_bool());
  EXPECT_FALSE(GgufValue::boolean(false).as_bool());
}

TEST(GgufValue, EqualityComparesTypeAndValue) {
  EXPECT_EQ(GgufValue::u32(7), GgufValue::u32(7));
  EXPECT_NE(GgufValue::u32(7), GgufValue::u64(7));
  EXPECT_NE(GgufValue::i32(-1), GgufValue::i64(-1));
  EXPECT_NE(GgufValue::string("a"), GgufValue::string("b"));
  EXPECT_EQ(GgufValue::f32(std::nanf("")), GgufValue::f32(std::nanf("")));
  EXPECT_NE(GgufValue::f32(0.0f), GgufValue::f32(-0.0f));
  EXPECT_EQ(GgufValue::array(T::u8, {}), GgufValue::array(T::u8, {}));
  EXPECT_NE(GgufValue::array(T::u8, {}), GgufValue::array(T::i8, {}));
  EXPECT_NE(GgufValue::array(T::u8, {GgufValue::u8(1)}), GgufValue::array(T::u8, {GgufValue::u8(2)}));
}

TEST(GgufValue, DisplayStrings) {
  EXPECT_EQ(GgufValue::string("a\"b\n\x01").to_display_string(), "\"a\\\"b\\n\\x01\"");
  EXPECT_EQ(GgufValue::string("abcdef").to_display_string(8, 3), "\"abc\"... (6 bytes)");
  EXPECT_EQ(GgufValue::i32(-5).to_display_string(), "-5");
  EXPECT_EQ(GgufValue::f32(0.5f).to_display_string(), "0.5");
  EXPECT_EQ(GgufValue::f32(0.1f).to_display_string(), "0.1");
  EXPECT_EQ(GgufValue::boolean(true).to_display_string(), "true");
  std::vector<GgufValue> many;
  for (int i = 0; i < 50000; ++i) many.push_back(GgufValue::i32(i));
  EXPECT_EQ(GgufValue::array(T::i32, many).to_display_string(2), "[0, 1, ... (50000 items)]");
  EXPECT_EQ(GgufValue::array(T::i32, many).to_display_string(0), "[... (50000 items)]");
  EXPECT_EQ(GgufValue::array(T::string, {GgufValue::string("x"), GgufValue::string("y")}).to_display_string(),
            "[\"x\", \"y\"]");
  EXPECT_EQ(GgufValue::array(T::u8, {}).to_display_string(), "[]");
}

TEST(GgmlTypes, NamesFormatsAndFileTypes) {
  EXPECT_EQ(ggml_type_name(0), "f32");
  EXPECT_EQ(ggml_type_name(2), "q4_0");
  EXPECT_EQ(ggml_type_name(12), "q4_K");
  EXPECT_EQ(ggml_type_name(16), "iq2_xxs");
  EXPECT_EQ(ggml_type_name(30), "bf16");
  EXPECT_EQ(ggml_type_name(39), "mxfp4");
  EXPECT_EQ(ggml_type_name(43), "unknown");
  EXPECT_EQ(format_for_ggml_type(8), Format::q8_0);
  EXPECT_EQ(format_for_ggml_type(30), Format::bf16);
  EXPECT_EQ(format_for_ggml_type(12), std::nullopt);
  for (const FormatInfo& info : all_formats()) {
    if (info.affine) {
      EXPECT_THROW((void)ggml_type_for(info.format), Error);
      continue;
    }
    EXPECT_EQ(format_for_ggml_type(ggml_type_for(info.format)), info.format) << info.name;
  }
  EXPECT_EQ(llama_file_type_for(Format::f32), 0u);
  EXPECT_EQ(llama_file_type_for(Format::f16), 1u);
  EXPECT_EQ(llama_file_type_for(Format::q4_0), 2u);
  EXPECT_EQ(llama_file_type_for(Format::q4_1), 3u);
  EXPECT_EQ(llama_file_type_for(Format::q8_0), 7u);
  EXPECT_EQ(llama_file_type_for(Format::q5_0), 8u);
  EXPECT_EQ(llama_file_type_for(Format::q5_1), 9u);
  EXPECT_EQ(llama_file_type_for(Format::bf16), 32u);
  EXPECT_THROW((void)llama_file_type_for(Format::i8), Error);
}

}  // namespace
}  // namespace qlinear
