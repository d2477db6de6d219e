// The importance-matrix part of the malformed corpus: llama.cpp's legacy .dat files and GGUF
// importance matrices, each breaking one rule that ImportanceMatrix::open checks, plus valid seeds.

#include "corpus/byte_builder.hpp"
#include "corpus/malformed_corpus.hpp"

#include <cstdint>
#include <functional>
#include <limits>

namespace qlinear::test {
namespace {

using E = ErrorCode;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// ---- legacy .dat -----------------------------------------------------------------------------------

ByteBuilder& dat_entry(ByteBuilder& b, std::string_view name, std::int32_t ncall, const std::vector<float>& values) {
  b.le(static_cast<std::int32_t>(name.size())).raw(name).le(ncall).le(static_cast<std::int32_t>(values.size()));
  for (float v : values) b.f32(v);
  return b;
}

// Two entries, then what `tail` adds (the trailer, or bytes that break it).
std::vector<std::byte> dat(const std::function<void(ByteBuilder&)>& tail = {}) {
  ByteBuilder b;
  b.le(std::int32_t{2});
  dat_entry(b, "blk.0.attn_q.weight", 4, {4.0f, 8.0f, 0.0f, 2.0f});
  dat_entry(b, "blk.0.ffn_down.weight", 0, {1.0f, 0.5f});
  if (tail) tail(b);
  return b.take();
}

void trailer(ByteBuilder& b) { b.le(std::int32_t{7}).le(std::int32_t{8}).raw("wiki.txt"); }

// ---- GGUF ------------------------------------------------------------------------------------------

struct Tensor {
  std::string name;
  std::vector<std::uint64_t> ne;  // innermost first
  std::uint32_t type = 0;         // f32; other types get zero bytes of their size
  std::vector<float> values;
};

std::vector<std::byte> kv_string(std::string_view key, std::string_view v) {
  return ByteBuilder().gguf_string(key).u32(8).gguf_string(v).take();
}
std::vector<std::byte> kv_u32(std::string_view key, std::uint32_t v) {
  return ByteBuilder().gguf_string(key).u32(4).u32(v).take();
}
std::vector<std::byte> kv_strings(std::string_view key, const std::vector<std::string>& v) {
  ByteBuilder b;
  b.gguf_string(key).u32(9).u32(8).u64(v.size());
  for (const auto& s : v) b.gguf_string(s);
  return b.take();
}

struct ImatrixGguf {
  std::vector<std::vector<std::byte>> kv = {kv_string("general.type", "imatrix"),
                                            kv_strings("imatrix.datasets", {"wiki.txt"}),
                                            kv_u32("imatrix.chunk_count", 7), kv_u32("imatrix.chunk_size", 512)};
  // An expert tensor of 2 experts × 4 columns; the second expert saw no token.
  std::vector<Tensor> tensors = {{"blk.0.ffn_up_exps.weight.in_sum2", {4, 2}, 0, {3, 6, 9, 0, 5, 5, 5, 5}},
                                 {"blk.0.ffn_up_exps.weight.counts", {1, 2}, 0, {3, 0}}};
};

std::vector<std::byte> build(const ImatrixGguf& g) {
  ByteBuilder b;
  b.raw("GGUF").u32(3).u64(g.tensors.size()).u64(g.kv.size());
  for (const auto& kv : g.kv) b.raw(kv);
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> sizes;
  for (const auto& t : g.tensors) {
    std::uint64_t n = 1;
    for (auto d : t.ne) n *= d;
    sizes.push_back(n * (t.type == 1 ? 2 : 4));
    b.gguf_string(t.name).u32(static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) b.u64(d);
    b.u32(t.type).u64(offset);
    offset += (sizes.back() + 31) / 32 * 32;
  }
  b.pad_to(32);
  for (std::size_t i = 0; i < g.tensors.size(); ++i) {
    const auto& t = g.tensors[i];
    if (t.type == 0) {
      for (float v : t.values) b.f32(v);
    } else {
      b.repeat(0, sizes[i]);
    }
    if (i + 1 < g.tensors.size()) b.pad_to(32);
  }
  return b.take();
}

std::vector<std::byte> gguf_with(const std::function<void(ImatrixGguf&)>& change) {
  ImatrixGguf g;
  change(g);
  return build(g);
}

}  // namespace

void add_imatrix_cases(std::vector<MalformedCase>& out) {
  const auto add = [&](std::string name, std::vector<std::byte> bytes, E code, std::string message) {
    out.push_back({"imatrix_" + std::move(name), Reader::imatrix, std::move(bytes), code, std::move(message)});
  };
  // .dat
  add("dat_empty_file", {}, E::malformed_file, "truncated: the entry count");
  add("dat_entry_count_zero", ByteBuilder().le(std::int32_t{0}).take(), E::malformed_file, "at least one entry");
  add("dat_entry_count_negative", ByteBuilder().le(std::int32_t{-3}).repeat(0, 40).take(), E::malformed_file,
      "entry count -3");
  add("dat_entry_count_beyond_file", [] {
        auto b = dat();
        b[0] = std::byte{100};
        return b;
      }(), E::malformed_file, "entry count 100 cannot fit");
  add("dat_name_length_zero", ByteBuilder().le(std::int32_t{1}).le(std::int32_t{0}).repeat(0, 20).take(),
      E::malformed_file, "name length 0");
  add("dat_name_length_negative", ByteBuilder().le(std::int32_t{1}).le(std::int32_t{-1}).repeat(0, 20).take(),
      E::malformed_file, "name length -1");
  add("dat_name_beyond_file", ByteBuilder().le(std::int32_t{1}).le(std::int32_t{1000}).raw("abc").repeat(0, 20).take(),
      E::malformed_file, "name length 1000 exceeds");
  add("dat_name_with_nul", [] {
        ByteBuilder b;
        b.le(std::int32_t{1});
        dat_entry(b, std::string_view("a\0b", 3), 1, {1.0f});
        return b.take();
      }(), E::malformed_file, "NUL byte at position 1");
  add("dat_ncall_negative", [] {
        ByteBuilder b;
        dat_entry(b.le(std::int32_t{1}), "w", -2, {1.0f});
        return b.take();
      }(), E::malformed_file, "entry 'w': ncall -2 is negative");
  add("dat_value_count_zero", ByteBuilder().le(std::int32_t{1}).le(std::int32_t{1}).raw("w").le(std::int32_t{1})
                                  .le(std::int32_t{0}).repeat(0, 8).take(),
      E::malformed_file, "value count 0");
  add("dat_value_count_negative", ByteBuilder().le(std::int32_t{1}).le(std::int32_t{1}).raw("w").le(std::int32_t{1})
                                      .le(std::int32_t{-5}).repeat(0, 8).take(),
      E::malformed_file, "value count -5");
  add("dat_values_beyond_file", [] {
        ByteBuilder b;
        b.le(std::int32_t{1}).le(std::int32_t{1}).raw("w").le(std::int32_t{1}).le(std::int32_t{0x7fffffff}).f32(1.0f);
        return b.take();
      }(), E::malformed_file, "truncated: entry 'w': 2147483647 values");
  for (const auto& [name, value] : std::vector<std::pair<std::string, float>>{
           {"nan", kNaN}, {"inf", kInf}, {"negative", -0.5f}}) {
    add("dat_value_" + name, [v = value] {
          ByteBuilder b;
          dat_entry(b.le(std::int32_t{1}), "w", 1, {1.0f, v});
          return b.take();
        }(), E::malformed_file, "entry 'w': value 1 is");
  }
  add("dat_duplicate_name", [] {
        ByteBuilder b;
        dat_entry(dat_entry(b.le(std::int32_t{2}), "w", 1, {1.0f}), "w", 1, {2.0f});
        return b.take();
      }(), E::malformed_file, "entry 'w': duplicate name");
  add("dat_partial_chunk_count", dat([](auto& b) { b.u16(7); }), E::malformed_file, "truncated: the chunk count");
  add("dat_negative_chunk_count", dat([](auto& b) { b.le(std::int32_t{-1}); }), E::malformed_file,
      "chunk count -1 is negative");
  add("dat_partial_dataset_length", dat([](auto& b) { b.le(std::int32_t{7}).u8(1); }), E::malformed_file,
      "truncated: the dataset name length");
  add("dat_negative_dataset_length", dat([](auto& b) { b.le(std::int32_t{7}).le(std::int32_t{-4}); }),
      E::malformed_file, "dataset name length -4 is negative");
  add("dat_dataset_beyond_file", dat([](auto& b) { b.le(std::int32_t{7}).le(std::int32_t{50}).raw("wiki"); }),
      E::malformed_file, "name length 50 exceeds");
  add("dat_dataset_with_nul", dat([](auto& b) { b.le(std::int32_t{7}).le(std::int32_t{3}).raw(std::string_view("a\0b", 3)); }),
      E::malformed_file, "the dataset name: the name holds a NUL byte");
  add("dat_trailing_bytes", dat([](auto& b) { trailer(b); b.u8(0); }), E::malformed_file,
      "1 bytes after the dataset name");

  // GGUF
  add("gguf_broken_gguf", gguf_with([](auto& g) { g.kv.push_back(kv_string("general.type", "x")); }),
      E::malformed_file, "duplicate metadata key 'general.type'");
  add("gguf_not_an_imatrix", gguf_with([](auto& g) { g.kv[0] = kv_string("general.type", "model"); }),
      E::malformed_file, "not an importance matrix");
  add("gguf_general_type_not_a_string", gguf_with([](auto& g) { g.kv[0] = kv_u32("general.type", 1); }),
      E::malformed_file, "not an importance matrix");
  add("gguf_no_datasets", gguf_with([](auto& g) { g.kv.erase(g.kv.begin() + 1); }), E::malformed_file,
      "no key 'imatrix.datasets'");
  add("gguf_datasets_not_strings", gguf_with([](auto& g) { g.kv[1] = kv_string("imatrix.datasets", "wiki"); }),
      E::malformed_file, "'imatrix.datasets' must be an array of strings");
  add("gguf_no_chunk_count", gguf_with([](auto& g) { g.kv.erase(g.kv.begin() + 2); }), E::malformed_file,
      "no key 'imatrix.chunk_count'");
  add("gguf_chunk_size_not_u32", gguf_with([](auto& g) {
        g.kv[3] = ByteBuilder().gguf_string("imatrix.chunk_size").u32(5).le(std::int32_t{512}).take();
      }), E::malformed_file, "'imatrix.chunk_size' has type i32; it must be u32");
  add("gguf_no_entries", gguf_with([](auto& g) {
        g.tensors = {{"blk.0.attn_q.weight", {4}, 0, {1, 2, 3, 4}}};
      }), E::malformed_file, "no entries");
  add("gguf_sums_without_counts", gguf_with([](auto& g) { g.tensors.pop_back(); }), E::malformed_file,
      "has no 'blk.0.ffn_up_exps.weight.counts' beside it");
  add("gguf_counts_without_sums", gguf_with([](auto& g) { g.tensors.erase(g.tensors.begin()); }),
      E::malformed_file, "has no 'blk.0.ffn_up_exps.weight.in_sum2' beside it");
  add("gguf_sums_not_f32", gguf_with([](auto& g) { g.tensors[0].type = 1; }), E::malformed_file,
      "has type f16; it must be f32");
  add("gguf_empty_entry_name", gguf_with([](auto& g) {
        g.tensors[0].name = ".in_sum2";
        g.tensors[1].name = ".counts";
      }), E::malformed_file, "the entry's name is empty");
  add("gguf_sums_not_a_multiple_of_counts", gguf_with([](auto& g) {
        g.tensors[0].ne = {7};
        g.tensors[0].values.pop_back();
      }), E::malformed_file, "7 sums cannot be split into 2 equal rows");
  add("gguf_sum_nan", gguf_with([](auto& g) { g.tensors[0].values[5] = kNaN; }), E::malformed_file,
      "value 5 is NaN");
  add("gguf_sum_negative", gguf_with([](auto& g) { g.tensors[0].values[0] = -1.0f; }), E::malformed_file,
      "value 0 is -1");
  add("gguf_count_inf", gguf_with([](auto& g) { g.tensors[1].values[1] = kInf; }), E::malformed_file,
      "value 1 is +Inf");
  add("gguf_count_negative", gguf_with([](auto& g) { g.tensors[1].values[0] = -3.0f; }), E::malformed_file,
      "'blk.0.ffn_up_exps.weight.counts' value 0 is -3");
}

void add_imatrix_seeds(std::vector<SeedFile>& out) {
  out.push_back({"imatrix_dat_with_trailer", Reader::imatrix, dat(trailer)});
  out.push_back({"imatrix_dat_without_trailer", Reader::imatrix, dat()});
  out.push_back({"imatrix_gguf_experts", Reader::imatrix, build(ImatrixGguf{})});
}

}  // namespace qlinear::test
