// GgufValue: constructors, typed accessors with range checks, arrays and their elements, display
// strings, equality, memory; and the tables that map ggml type ids to names, formats and llama.cpp
// file types.

#include "test_support.hpp"

#include <qlinear/gguf.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace qlinear {
namespace {

using T = GgufValueType;
using test::error_code_of;

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
  EXPECT_EQ(error_code_of([] { (void)GgufValue::i32(-1).as_u64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u64(1ull << 63).as_i64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::string("x").as_u64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u8(1).as_string(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u8(1).as_bool(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u8(1).as_array(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u8(1).element_type(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::string("1").as_f64(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::array(T::u32, {GgufValue::u32(1), GgufValue::i32(2)}); }),
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

TEST(GgufValue, ArrayElementsAreMadeOnRequest) {
  const GgufValue numbers = GgufValue::array(T::i16, {GgufValue::i16(-300), GgufValue::i16(7)});
  EXPECT_EQ(numbers.element_type(), T::i16);
  ASSERT_EQ(numbers.array_size(), 2u);
  EXPECT_EQ(numbers.array_element(0), GgufValue::i16(-300));
  EXPECT_EQ(numbers.array_element(1).as_i64(), 7);
  EXPECT_EQ(numbers.as_array(), (std::vector<GgufValue>{GgufValue::i16(-300), GgufValue::i16(7)}));

  const std::vector<GgufValue> words = {GgufValue::string(""), GgufValue::string(std::string("a\0b", 3)),
                                        GgufValue::string("héllo")};
  const GgufValue strings = GgufValue::array(T::string, words);
  ASSERT_EQ(strings.array_size(), 3u);
  EXPECT_EQ(strings.array_element(1).as_string(), std::string("a\0b", 3));
  EXPECT_EQ(strings.as_array(), words);

  const GgufValue floats = GgufValue::array(T::f64, {GgufValue::f64(-0.0), GgufValue::f64(std::nan(""))});
  EXPECT_EQ(floats.array_element(0), GgufValue::f64(-0.0));
  EXPECT_NE(floats.array_element(0), GgufValue::f64(0.0));
  EXPECT_TRUE(std::isnan(floats.array_element(1).as_f64()));

  const GgufValue bools = GgufValue::array(T::boolean, {GgufValue::boolean(false), GgufValue::boolean(true)});
  EXPECT_FALSE(bools.array_element(0).as_bool());
  EXPECT_TRUE(bools.array_element(1).as_bool());
}

TEST(GgufValue, ArraysOfArraysGiveTheirElementsBack) {
  const GgufValue inner_numbers = GgufValue::array(T::u64, {GgufValue::u64(1ull << 40), GgufValue::u64(3)});
  const GgufValue inner_strings = GgufValue::array(T::string, {GgufValue::string("x"), GgufValue::string("")});
  const GgufValue deeper = GgufValue::array(T::array, {GgufValue::array(T::boolean, {GgufValue::boolean(true)})});
  const GgufValue nested = GgufValue::array(T::array, {inner_numbers, inner_strings, deeper, GgufValue::array(T::i8, {})});
  ASSERT_EQ(nested.array_size(), 4u);
  EXPECT_EQ(nested.array_element(0), inner_numbers);
  EXPECT_EQ(nested.array_element(1), inner_strings);
  EXPECT_EQ(nested.array_element(2), deeper);
  EXPECT_TRUE(nested.array_element(2).array_element(0).array_element(0).as_bool());
  EXPECT_EQ(nested.array_element(3).array_size(), 0u);
  EXPECT_EQ(nested.array_element(3).element_type(), T::i8);
  EXPECT_EQ(nested.to_display_string(), "[[1099511627776, 3], [\"x\", \"\"], [[true]], []]");
}

TEST(GgufValue, ArrayAccessOutsideAnArrayOrPastItsEndThrows) {
  const GgufValue three = GgufValue::array(T::u32, {GgufValue::u32(1), GgufValue::u32(2), GgufValue::u32(3)});
  EXPECT_EQ(error_code_of([&] { (void)three.array_element(3); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([&] { (void)GgufValue::array(T::string, {}).array_element(0); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::u8(1).array_size(); }), ErrorCode::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)GgufValue::string("ab").array_element(0); }), ErrorCode::invalid_argument);
}

// The reader stops at 16 levels of arrays; the factory does too, so every value can be written and
// its elements read back.
TEST(GgufValue, ArraysNestAtMostSixteenDeep) {
  GgufValue value = GgufValue::array(T::u8, {GgufValue::u8(42)});
  for (int depth = 2; depth <= 16; ++depth) value = GgufValue::array(T::array, {value});
  try {
    (void)GgufValue::array(T::array, {GgufValue::array(T::array, {}), value});
    ADD_FAILURE() << "a 17-deep array was made";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("element 1 would nest arrays more than 16 deep"), std::string::npos)
        << e.what();
  }
  for (int depth = 16; depth > 1; --depth) value = value.array_element(0);
  EXPECT_EQ(value, GgufValue::array(T::u8, {GgufValue::u8(42)}));
}

TEST(GgufValue, StringArraysCompareByTheirElements) {
  const auto strings = [](std::vector<std::string> v) {
    std::vector<GgufValue> elements;
    for (auto& s : v) elements.push_back(GgufValue::string(std::move(s)));
    return GgufValue::array(T::string, elements);
  };
  EXPECT_EQ(strings({"ab", ""}), strings({"ab", ""}));
  EXPECT_NE(strings({"ab", ""}), strings({"a", "b"}));  // the same bytes, split elsewhere
  EXPECT_NE(strings({"ab"}), strings({"ab", ""}));
  EXPECT_NE(strings({}), GgufValue::array(T::u8, {}));
}

// An array's memory is its elements' bytes (and, for strings, 8 bytes each for where it ends), not
// one GgufValue per element.
TEST(GgufValue, ArraysTakeTheirElementsBytes) {
  EXPECT_EQ(GgufValue::u64(1).memory_bytes(), sizeof(GgufValue));
  EXPECT_EQ(GgufValue::string("short").memory_bytes(), sizeof(GgufValue));  // in the object itself
  EXPECT_GE(GgufValue::string(std::string(1000, 'x')).memory_bytes(), sizeof(GgufValue) + 1000);
  EXPECT_LE(GgufValue::string(std::string(1000, 'x')).memory_bytes(), sizeof(GgufValue) + 1100);

  std::vector<GgufValue> numbers;
  for (std::uint32_t i = 0; i < 10000; ++i) numbers.push_back(GgufValue::u32(i));
  const std::size_t number_bytes = GgufValue::array(T::u32, numbers).memory_bytes();
  EXPECT_GE(number_bytes, sizeof(GgufValue) + 40000);
  EXPECT_LE(number_bytes, sizeof(GgufValue) + 40000 + 64);

  std::vector<GgufValue> words;
  for (int i = 0; i < 10000; ++i) words.push_back(GgufValue::string("abc"));
  const std::size_t word_bytes = GgufValue::array(T::string, words).memory_bytes();
  EXPECT_GE(word_bytes, sizeof(GgufValue) + 10000 * (3 + 8));
  EXPECT_LE(word_bytes, sizeof(GgufValue) + 10000 * (3 + 8) + 64);
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
  EXPECT_EQ(GgufValue::array(T::string, {GgufValue::string("abcdef")}).to_display_string(8, 2),
            "[\"ab\"... (6 bytes)]");
  EXPECT_EQ(GgufValue::array(T::f32, {GgufValue::f32(0.1f), GgufValue::f32(-2.0f)}).to_display_string(), "[0.1, -2]");
  EXPECT_EQ(GgufValue::array(T::boolean, {GgufValue::boolean(true)}).to_display_string(), "[true]");
  EXPECT_EQ(GgufValue::array(T::i8, {GgufValue::i8(-128)}).to_display_string(), "[-128]");
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
  EXPECT_EQ(format_for_ggml_type(12), Format::q4_K);
  EXPECT_EQ(format_for_ggml_type(23), Format::iq4_xs);
  EXPECT_EQ(format_for_ggml_type(16), std::nullopt);  // iq2_xxs: readable as a name, not a format
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
  EXPECT_EQ(llama_file_type_for(Format::q2_K), 10u);
  EXPECT_EQ(llama_file_type_for(Format::q6_K), 18u);
  EXPECT_EQ(llama_file_type_for(Format::iq4_nl), 25u);
  EXPECT_EQ(llama_file_type_for(Format::iq4_xs), 30u);
  EXPECT_THROW((void)llama_file_type_for(Format::i8), Error);
}

}  // namespace
}  // namespace qlinear
