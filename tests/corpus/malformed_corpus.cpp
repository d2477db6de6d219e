#include "corpus/malformed_corpus.hpp"

#include "corpus/byte_builder.hpp"

#include <cstdint>
#include <functional>
#include <limits>

namespace qlinear::test {
namespace {

using E = ErrorCode;
constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();

// ---- GGUF ------------------------------------------------------------------------------------------

struct GgufTensor {
  std::string name;
  std::vector<std::uint64_t> ne;  // innermost first, as stored
  std::uint32_t type;
  std::uint64_t offset;
};

// A GGUF file from parts, each of which a case may break. Metadata entries are raw bytes.
struct GgufParts {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::vector<std::vector<std::byte>> kv;
  std::vector<GgufTensor> tensors = {{"a", {8}, 0, 0}, {"b", {32, 2}, 8, 32}};  // f32 [8], q8_0 [2, 32]
  std::uint64_t alignment = 32;
  std::size_t data_bytes = 32 + 68;  // a: 32 bytes; b: 2 × 34 = 68
  std::int64_t n_tensors = -1, n_kv = -1;  // -1: the real counts
  bool pad_header = true;
};

std::vector<std::byte> kv_raw(std::string_view key, std::uint32_t type, const std::function<void(ByteBuilder&)>& value) {
  ByteBuilder b;
  b.gguf_string(key).u32(type);
  value(b);
  return b.take();
}
std::vector<std::byte> kv_u32(std::string_view key, std::uint32_t v) { return kv_raw(key, 4, [&](auto& b) { b.u32(v); }); }
std::vector<std::byte> kv_string(std::string_view key, std::string_view v) {
  return kv_raw(key, 8, [&](auto& b) { b.gguf_string(v); });
}

std::vector<std::byte> build(const GgufParts& p) {
  ByteBuilder b;
  b.raw(p.magic).u32(p.version);
  b.u64(p.n_tensors >= 0 ? static_cast<std::uint64_t>(p.n_tensors) : p.tensors.size());
  b.u64(p.n_kv >= 0 ? static_cast<std::uint64_t>(p.n_kv) : p.kv.size());
  for (const auto& kv : p.kv) b.raw(kv);
  for (const auto& t : p.tensors) {
    b.gguf_string(t.name).u32(static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  if (p.pad_header) b.pad_to(p.alignment);
  for (std::size_t i = 0; i < p.data_bytes; ++i) b.u8(static_cast<std::uint8_t>(i * 7));
  return b.take();
}

GgufParts valid_gguf() {
  GgufParts p;
  p.kv = {kv_string("general.architecture", "llama"), kv_u32("general.file_type", 7),
          kv_raw("tokenizer.ggml.tokens", 9, [](auto& b) { b.u32(8).u64(2).gguf_string("<s>").gguf_string("a"); })};
  return p;
}

std::vector<std::byte> with(const std::function<void(GgufParts&)>& change) {
  GgufParts p = valid_gguf();
  change(p);
  return build(p);
}

void add_gguf_cases(std::vector<MalformedCase>& out) {
  const auto add = [&](std::string name, std::vector<std::byte> bytes, E code, std::string message) {
    out.push_back({"gguf_" + std::move(name), Reader::gguf, std::move(bytes), code, std::move(message)});
  };
  add("empty_file", {}, E::malformed_file, "truncated");
  add("bad_magic", with([](auto& p) { p.magic = "GGML"; }), E::malformed_file, "magic");
  add("version_0", with([](auto& p) { p.version = 0; }), E::malformed_file, "version 0");
  add("version_byte_swapped", with([](auto& p) { p.version = 0x03000000; }), E::malformed_file, "byte order");
  add("version_1", with([](auto& p) { p.version = 1; }), E::unsupported, "version 1");
  add("version_4", with([](auto& p) { p.version = 4; }), E::unsupported, "version 4");
  add("metadata_count_beyond_file", with([](auto& p) { p.n_kv = 1ll << 60; }), E::malformed_file, "metadata count");
  add("tensor_count_beyond_file", with([](auto& p) { p.n_tensors = 1ll << 40; }), E::malformed_file, "tensor count");
  add("key_length_beyond_file", with([](auto& p) {
        ByteBuilder b;
        b.u64(1ull << 40).raw("general.x");
        p.kv.insert(p.kv.begin(), b.take());
      }), E::malformed_file, "string length");
  add("string_length_beyond_file", with([](auto& p) {
        p.kv.push_back(kv_raw("s", 8, [](auto& b) { b.u64(kMax64).raw("abc"); }));
      }), E::malformed_file, "string length");
  add("array_count_beyond_file", with([](auto& p) {
        p.kv.push_back(kv_raw("arr", 9, [](auto& b) { b.u32(6).u64(1ull << 61); }));
      }), E::malformed_file, "cannot fit");
  add("string_array_count_beyond_file", with([](auto& p) {
        p.kv.push_back(kv_raw("arr", 9, [](auto& b) { b.u32(8).u64(1000); }));
      }), E::malformed_file, "cannot fit");
  add("empty_key", with([](auto& p) { p.kv.push_back(kv_u32("", 1)); }), E::malformed_file, "empty key");
  add("duplicate_key", with([](auto& p) { p.kv.push_back(kv_u32("general.file_type", 2)); }), E::malformed_file,
      "duplicate metadata key 'general.file_type'");
  add("unknown_value_type", with([](auto& p) { p.kv.push_back(kv_raw("x", 13, [](auto& b) { b.u32(0); })); }),
      E::malformed_file, "unknown value type 13");
  add("unknown_array_element_type", with([](auto& p) {
        p.kv.push_back(kv_raw("x", 9, [](auto& b) { b.u32(77).u64(1).u32(0); }));
      }), E::malformed_file, "unknown array element type 77");
  add("bool_not_0_or_1", with([](auto& p) { p.kv.push_back(kv_raw("flag", 7, [](auto& b) { b.u8(2); })); }),
      E::malformed_file, "neither 0 nor 1");
  add("bool_array_element_not_0_or_1", with([](auto& p) {
        p.kv.push_back(kv_raw("flags", 9, [](auto& b) { b.u32(7).u64(3).u8(1).u8(0).u8(2); }));
      }), E::malformed_file, "key 'flags': bool value 2 is neither 0 nor 1");
  add("nested_array_bool_not_0_or_1", with([](auto& p) {
        p.kv.push_back(kv_raw("nested", 9, [](auto& b) { b.u32(9).u64(2).u32(7).u64(0).u32(7).u64(1).u8(5); }));
      }), E::malformed_file, "key 'nested': bool value 5 is neither 0 nor 1");
  add("string_array_element_length_beyond_file", with([](auto& p) {
        p.kv.push_back(kv_raw("words", 9, [](auto& b) { b.u32(8).u64(2).gguf_string("a").u64(1ull << 40); }));
      }), E::malformed_file, "key 'words': string length 1099511627776 exceeds");
  add("arrays_nested_too_deep", with([](auto& p) {
        p.kv.push_back(kv_raw("deep", 9, [](auto& b) {
          for (int i = 0; i < 40; ++i) b.u32(9).u64(1);
          b.u32(0).u64(0);
        }));
      }), E::unsupported, "nested more than 16");
  add("alignment_wrong_type", with([](auto& p) {
        p.kv.push_back(kv_raw("general.alignment", 10, [](auto& b) { b.u64(32); }));
      }), E::malformed_file, "must be u32");
  add("alignment_not_power_of_two", with([](auto& p) { p.kv.push_back(kv_u32("general.alignment", 48)); }),
      E::malformed_file, "not a power of two");
  add("alignment_zero", with([](auto& p) { p.kv.push_back(kv_u32("general.alignment", 0)); }), E::malformed_file,
      "not a power of two");
  add("tensor_name_too_long", with([](auto& p) { p.tensors[0].name = std::string(64, 'n'); }), E::malformed_file,
      "longer than the 63");
  add("tensor_name_empty", with([](auto& p) { p.tensors[1].name = ""; }), E::malformed_file, "empty name");
  add("tensor_name_duplicate", with([](auto& p) { p.tensors[1].name = "a"; }), E::malformed_file,
      "duplicate tensor name 'a'");
  add("too_many_dimensions", with([](auto& p) { p.tensors[0].ne = {8, 1, 1, 1, 1}; }), E::malformed_file,
      "at most 4");
  add("zero_dimension", with([](auto& p) { p.tensors[1].ne = {32, 0}; }), E::malformed_file, "ne[1] is zero");
  add("negative_dimension", with([](auto& p) { p.tensors[0].ne = {1ull << 63}; }), E::malformed_file, "negative");
  add("element_count_overflow", with([](auto& p) { p.tensors[0].ne = {1ull << 32, 1ull << 31}; }),
      E::malformed_file, "element count overflows");
  add("byte_size_overflow", with([](auto& p) { p.tensors[0].ne = {1ull << 31, 1ull << 31}, p.tensors[0].type = 28; }),
      E::malformed_file, "byte size overflows");
  add("unknown_ggml_type", with([](auto& p) { p.tensors[0].type = 99; }), E::malformed_file, "unknown ggml type 99");
  add("removed_ggml_type", with([](auto& p) { p.tensors[1].type = 4; }), E::malformed_file, "removed");
  add("row_not_multiple_of_block", with([](auto& p) { p.tensors[1].ne = {33, 2}; }), E::malformed_file,
      "not a multiple of the q8_0 block size 32");
  add("first_offset_not_zero", with([](auto& p) { p.tensors[0].offset = 32, p.tensors[1].offset = 64; }),
      E::malformed_file, "expected 0");
  add("offset_gap", with([](auto& p) { p.tensors[1].offset = 64; }), E::malformed_file, "expected 32");
  add("offset_misaligned", with([](auto& p) { p.tensors[1].offset = 36; }), E::malformed_file, "expected 32");
  add("offset_overlap", with([](auto& p) { p.tensors[1].offset = 0; }), E::malformed_file, "overlaps tensor 'a'");
  add("tensor_data_beyond_file", with([](auto& p) { p.data_bytes = 32 + 67; }), E::malformed_file,
      "extend past the end of the file");
  add("data_section_beyond_file", with([](auto& p) {
        p.data_bytes = 0;
        p.pad_header = false;
        p.kv.push_back(kv_raw("pad", 0, [](auto& b) { b.u8(0); }));  // the header ends unaligned
      }), E::malformed_file, "data section would start");
  add("truncated_in_metadata", [] {
        auto bytes = build(valid_gguf());
        bytes.resize(40);
        return bytes;
      }(), E::malformed_file, "truncated");
}

// ---- safetensors -----------------------------------------------------------------------------------

std::vector<std::byte> safetensors(const std::string& header, std::size_t data_bytes, std::int64_t length = -1) {
  ByteBuilder b;
  b.u64(length >= 0 ? static_cast<std::uint64_t>(length) : header.size()).raw(header);
  b.repeat(0x3c, data_bytes);
  return b.take();
}

const std::string kValidHeader =
    R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("b":{"dtype":"F16","shape":[3],"data_offsets":[24,30]}})";

void add_safetensors_cases(std::vector<MalformedCase>& out) {
  const auto add = [&](std::string name, std::vector<std::byte> bytes, E code, std::string message) {
    out.push_back({"safetensors_" + std::move(name), Reader::safetensors, std::move(bytes), code, std::move(message)});
  };
  const auto tensor = [](const std::string& body) { return "{\"t\":" + body + "}"; };
  add("shorter_than_length", {std::byte{1}, std::byte{0}}, E::malformed_file, "too short");
  add("header_length_beyond_file", safetensors(kValidHeader, 30, 5000), E::malformed_file, "exceeds the");
  add("header_length_huge", safetensors(kValidHeader, 30, std::numeric_limits<std::int64_t>::max()),
      E::malformed_file, "exceeds the");
  add("header_not_json", safetensors("{\"w\": {\"dtype\": \"F32\",", 0), E::malformed_file, "not valid JSON");
  add("header_not_utf8", safetensors("{\"\xff\xfe\":{}}", 0), E::malformed_file, "not valid JSON");
  add("header_not_object", safetensors("[1, 2]", 0), E::malformed_file, "not a JSON object");
  add("header_nested_too_deep", safetensors(tensor(R"({"dtype":"F32","shape":[[[1]]],"data_offsets":[0,4]})"), 4),
      E::malformed_file, "nests deeper");
  {
    std::string dims = "1";
    for (int i = 1; i < 2048; ++i) dims += ",1";
    add("header_array_too_long", safetensors(tensor(R"({"dtype":"F32","shape":[)" + dims + R"(],"data_offsets":[0,4]})"), 4),
        E::malformed_file, "more than 1024");
  }
  add("duplicate_tensor", safetensors(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                      R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
      E::malformed_file, "duplicate key 't'");
  add("duplicate_field", safetensors(tensor(R"({"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]})"), 4),
      E::malformed_file, "duplicate key 'dtype'");
  add("entry_not_object", safetensors(tensor("[1]"), 0), E::malformed_file, "not an object");
  add("unknown_dtype", safetensors(tensor(R"({"dtype":"F24","shape":[1],"data_offsets":[0,3]})"), 3),
      E::malformed_file, "unknown dtype 'F24'");
  add("missing_dtype", safetensors(tensor(R"({"shape":[1],"data_offsets":[0,4]})"), 4), E::malformed_file, "dtype");
  add("shape_not_array", safetensors(tensor(R"({"dtype":"F32","shape":4,"data_offsets":[0,4]})"), 4),
      E::malformed_file, "shape");
  add("negative_dimension", safetensors(tensor(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), 4),
      E::malformed_file, "non-negative");
  add("shape_overflow", safetensors(tensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"), 4),
      E::malformed_file, "overflows");
  add("sub_byte_size", safetensors(tensor(R"({"dtype":"F4","shape":[3],"data_offsets":[0,2]})"), 2),
      E::malformed_file, "whole number of bytes");
  add("offsets_wrong_arity", safetensors(tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), 4),
      E::malformed_file, "two non-negative integers");
  add("offsets_reversed", safetensors(tensor(R"({"dtype":"F32","shape":[0],"data_offsets":[4,0]})"), 4),
      E::malformed_file, "end before they begin");
  add("offsets_not_matching_shape", safetensors(tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), 4),
      E::malformed_file, "needs 8");
  add("offsets_beyond_data", safetensors(tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), 4),
      E::malformed_file, "outside the data section of 4 bytes");
  add("offsets_huge", safetensors(tensor(R"({"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]})"), 4),
      E::malformed_file, "outside the data section of 4 bytes");
  add("tensors_overlap", safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
      E::malformed_file, "overlap");
  add("gap_between_tensors", safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
      E::malformed_file, "gap of 4 bytes");
  add("trailing_bytes", safetensors(kValidHeader, 31), E::malformed_file, "1 bytes after the last tensor");
  add("metadata_not_object", safetensors(R"({"__metadata__":[1]})", 0), E::malformed_file, "__metadata__ is not an object");
  add("metadata_value_not_string", safetensors(R"({"__metadata__":{"n":1}})", 0), E::malformed_file, "not a string");
}

// ---- AXQT ------------------------------------------------------------------------------------------

// One Q8_0 tensor of shape [2, 32] (the crate's worked example, 102 bytes), then whatever `tail` adds.
std::vector<std::byte> axqt(std::uint8_t version, std::uint8_t type, std::uint32_t tensors, std::uint64_t params,
                            const std::function<void(ByteBuilder&)>& body) {
  ByteBuilder b;
  b.raw("AXQT").u8(version).u8(type).u32(tensors).u64(params);
  body(b);
  return b.take();
}
void q8_tensor(ByteBuilder& b) {
  b.u32(2).u32(2).u32(32).u32(2);
  for (int i = 0; i < 2; ++i) b.u16(0x3C00).repeat(3, 32);
}

void add_axqt_cases(std::vector<MalformedCase>& out) {
  const auto add = [&](std::string name, std::vector<std::byte> bytes, E code, std::string message) {
    out.push_back({"axqt_" + std::move(name), Reader::axqt, std::move(bytes), code, std::move(message)});
  };
  add("tensor_missing", axqt(1, 0, 1, 64, [](auto&) {}), E::malformed_file, "tensor count 1");
  {
    auto bytes = axqt(1, 0, 0, 0, [](auto&) {});
    bytes.resize(17);
    add("truncated_header", bytes, E::malformed_file, "shorter than the 18-byte");
  }
  {
    auto bytes = axqt(1, 0, 1, 64, q8_tensor);
    bytes[0] = std::byte{'X'};
    add("bad_magic", bytes, E::malformed_file, "magic");
  }
  add("version_2", axqt(2, 0, 1, 64, q8_tensor), E::unsupported, "version 2");
  add("unknown_quant_type", axqt(1, 7, 1, 64, q8_tensor), E::malformed_file, "unknown quant type byte 7");
  add("q5_0_unsupported", axqt(1, 3, 1, 64, q8_tensor), E::unsupported, "Q5_0");
  add("tensor_count_beyond_file", axqt(1, 0, 0xffffffffu, 64, q8_tensor), E::malformed_file, "tensor count");
  add("rank_beyond_file", axqt(1, 0, 1, 64, [](auto& b) { b.u32(0x40000000u).u32(2); }), E::malformed_file, "rank");
  add("zero_dimension", axqt(1, 0, 1, 0, [](auto& b) { b.u32(2).u32(0).u32(32).u32(0); }), E::malformed_file,
      "dimension 0 is zero");
  add("element_count_overflow", axqt(1, 0, 1, 0, [](auto& b) {
        b.u32(3).u32(0xffffffffu).u32(0xffffffffu).u32(0xffffffffu).u32(0);
      }), E::malformed_file, "overflows");
  add("block_count_too_small", axqt(1, 0, 1, 64, [](auto& b) {
        b.u32(2).u32(2).u32(32).u32(1).u16(0x3C00).repeat(0, 32);
      }), E::malformed_file, "expected 2 blocks");
  add("block_count_too_large", axqt(1, 1, 1, 64, [](auto& b) {
        b.u32(1).u32(64).u32(3);
        for (int i = 0; i < 3; ++i) b.u16(0x3C00).repeat(0x88, 16);
      }), E::malformed_file, "expected 2 blocks");
  add("f32_block_count_inconsistent", axqt(1, 6, 1, 5, [](auto& b) {
        b.u32(1).u32(5).u32(2);
        for (int i = 0; i < 5; ++i) b.f32(1.0f);
      }), E::malformed_file, "block count 2 for 5 elements");
  add("block_data_truncated", [] {
        auto bytes = axqt(1, 0, 1, 64, q8_tensor);
        bytes.resize(bytes.size() - 1);
        return bytes;
      }(), E::malformed_file, "truncated: tensor_0 block data");
  add("f16_values_beyond_file", axqt(1, 5, 1, 1000, [](auto& b) { b.u32(1).u32(1000).u32(1).u16(0); }),
      E::malformed_file, "truncated");
  add("trailing_bytes", axqt(1, 0, 1, 64, [](auto& b) { q8_tensor(b); b.u8(0); }), E::malformed_file,
      "1 bytes after the last tensor");
  add("total_params_mismatch", axqt(1, 0, 1, 65, q8_tensor), E::malformed_file, "counts 65 parameters");
}

}  // namespace

std::string_view reader_name(Reader reader) noexcept {
  switch (reader) {
    case Reader::gguf: return "gguf";
    case Reader::safetensors: return "safetensors";
    case Reader::axqt: return "axqt";
    case Reader::imatrix: return "imatrix";
    case Reader::calibration: return "calibration";
  }
  return "unknown";
}

std::string_view reader_extension(Reader reader) noexcept {
  switch (reader) {
    case Reader::gguf: return ".gguf";
    case Reader::safetensors: return ".safetensors";
    case Reader::axqt: return ".axonml";
    case Reader::imatrix: return ".imatrix";
    case Reader::calibration: return ".calibration";
  }
  return "";
}

std::vector<MalformedCase> malformed_corpus() {
  std::vector<MalformedCase> cases;
  add_gguf_cases(cases);
  add_safetensors_cases(cases);
  add_axqt_cases(cases);
  add_imatrix_cases(cases);
  add_calibration_cases(cases);
  return cases;
}

std::vector<SeedFile> valid_seed_files() {
  std::vector<SeedFile> seeds;
  seeds.push_back({"gguf_valid", Reader::gguf, build(valid_gguf())});
  seeds.push_back({"gguf_no_tensors", Reader::gguf, [] {
                     GgufParts p = valid_gguf();
                     p.tensors.clear();
                     p.data_bytes = 0;
                     return build(p);
                   }()});
  seeds.push_back({"gguf_alignment_8_last_padding_missing", Reader::gguf, [] {
                     GgufParts p = valid_gguf();
                     p.kv.push_back(kv_u32("general.alignment", 8));
                     p.alignment = 8;
                     p.tensors[1].offset = 32;
                     p.data_bytes = 32 + 68;  // 68 is not a multiple of 8: the last padding is absent
                     return build(p);
                   }()});
  seeds.push_back({"safetensors_valid", Reader::safetensors, safetensors(kValidHeader, 30)});
  seeds.push_back({"safetensors_empty", Reader::safetensors, safetensors("{}", 0)});
  seeds.push_back({"axqt_q8_0", Reader::axqt, axqt(1, 0, 1, 64, q8_tensor)});
  seeds.push_back({"axqt_q4_1_two_tensors", Reader::axqt, axqt(1, 2, 2, 64 + 1, [](auto& b) {
                     b.u32(2).u32(2).u32(32).u32(2);
                     for (int i = 0; i < 2; ++i) b.u16(0x3C00).u16(0x0000).repeat(0x21, 16);
                     b.u32(0).u32(1).u16(0x3800).u16(0xB800).repeat(0xF0, 16);  // rank 0 counts as 1 element
                   })});
  seeds.push_back({"axqt_f16", Reader::axqt, axqt(1, 5, 1, 4, [](auto& b) {
                     b.u32(2).u32(2).u32(2).u32(1).u16(0x3C00).u16(0x4000).u16(0xC000).u16(0x0001);
                   })});
  add_imatrix_seeds(seeds);
  add_calibration_seeds(seeds);
  return seeds;
}

}  // namespace qlinear::test
