// AXQT v1 reader (layout and what is accepted: include/qlinear/axqt.hpp). Counts are checked against
// the bytes left before anything is allocated: a tensor's values are allocated only once its blocks
// are known to be in the file.

#include "io/axqt_parser.hpp"

#include "core/half.hpp"
#include "io/byte_reader.hpp"

#include <qlinear/error.hpp>

#include <array>
#include <cstring>
#include <string>

namespace qlinear::io {
namespace {

constexpr std::size_t kHeaderBytes = 18;
constexpr std::size_t kBlock = 32;

struct QuantType {
  std::string_view name;
  std::size_t block_bytes;  // for F16/F32: bytes per value
  bool supported;
};
constexpr std::array<QuantType, 7> kTypes = {{
    {"Q8_0", 34, true},
    {"Q4_0", 18, true},
    {"Q4_1", 20, true},
    {"Q5_0", 22, false},
    {"Q5_1", 24, false},
    {"F16", 2, true},
    {"F32", 4, true},
}};

void decode_blocks(std::uint8_t type, const std::byte* p, std::size_t blocks, float* out, std::size_t n) {
  std::array<float, kBlock> v{};
  for (std::size_t b = 0; b < blocks; ++b) {
    const float d = core::fp16_to_fp32(load_u16_le(p));
    if (type == 0) {  // Q8_0
      for (std::size_t i = 0; i < kBlock; ++i) v[i] = d * static_cast<float>(static_cast<std::int8_t>(p[2 + i]));
      p += 34;
    } else {
      const bool has_min = type == 2;  // Q4_1
      const float m = has_min ? core::fp16_to_fp32(load_u16_le(p + 2)) : 0.0f;
      const std::byte* qs = p + (has_min ? 4 : 2);
      for (std::size_t i = 0; i < kBlock / 2; ++i) {
        const auto byte = static_cast<unsigned>(qs[i]);
        const auto lo = static_cast<float>(byte & 15u), hi = static_cast<float>(byte >> 4);
        v[2 * i] = has_min ? d * lo + m : d * (lo - 8.0f);
        v[2 * i + 1] = has_min ? d * hi + m : d * (hi - 8.0f);
      }
      p += has_min ? 20 : 18;
    }
    const std::size_t count = n - b * kBlock < kBlock ? n - b * kBlock : kBlock;
    std::memcpy(out + b * kBlock, v.data(), count * sizeof(float));
  }
}

}  // namespace

AxqtFile AxqtParser::parse(std::shared_ptr<const MappedFile> mapped) {
  ByteReader r(mapped->bytes(), mapped->path());
  AxqtFile file;
  file.path_ = mapped->path();
  if (r.size() < kHeaderBytes) {
    r.fail_at(0, "truncated: a file of " + std::to_string(r.size()) + " bytes is shorter than the 18-byte AXQT header");
  }
  const auto magic = r.take(4, "the magic");
  if (std::memcmp(magic.data(), "AXQT", 4) != 0) r.fail_at(0, "not an AXQT file: the magic is not 'AXQT'");
  file.version_ = r.u8("the version");
  if (file.version_ != 1) {
    throw Error(ErrorCode::unsupported, file.path_.string() + ": byte offset 4: AXQT version " +
                                            std::to_string(file.version_) + " is not supported (version 1 is)");
  }
  const std::uint8_t type = r.u8("the quant type");
  if (type >= kTypes.size()) r.fail_at(5, "unknown quant type byte " + std::to_string(type));
  const QuantType& qt = kTypes[type];
  file.quant_type_ = qt.name;
  if (!qt.supported) {
    throw Error(ErrorCode::unsupported, file.path_.string() + ": byte offset 5: AXQT quant type " +
                                            std::string(qt.name) +
                                            " is not supported (axonml-quant writes no readable blocks for it)");
  }
  const std::uint32_t count = r.u32("the tensor count");
  file.total_params_ = r.u64("the total parameter count");
  // A tensor takes at least 8 bytes (rank and block count).
  if (count > r.remaining() / 8) {
    r.fail_at(6, "tensor count " + std::to_string(count) + " cannot fit in the " + std::to_string(r.remaining()) +
                     " bytes left in the file");
  }
  const bool dense = type == 5 || type == 6;
  file.tensors_.reserve(count);
  std::uint64_t params = 0;
  for (std::uint32_t t = 0; t < count; ++t) {
    AxqtTensor tensor;
    tensor.name = "tensor_" + std::to_string(t);
    tensor.quant_type = qt.name;
    const std::string context = tensor.name;
    const std::size_t rank_at = r.offset();
    const std::uint32_t rank = r.u32(context + " rank");
    if (rank > r.remaining() / 4) {
      r.fail_at(rank_at, context + ": rank " + std::to_string(rank) + " cannot fit in the " +
                             std::to_string(r.remaining()) + " bytes left in the file");
    }
    std::uint64_t n = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      const std::size_t dim_at = r.offset();
      const std::uint32_t dim = r.u32(context + " shape");
      if (dim == 0) r.fail_at(dim_at, context + ": dimension " + std::to_string(d) + " is zero");
      if (__builtin_mul_overflow(n, std::uint64_t{dim}, &n)) r.fail_at(dim_at, context + ": the element count overflows");
      tensor.shape.push_back(dim);
    }
    const std::size_t blocks_at = r.offset();
    const std::uint32_t blocks = r.u32(context + " block count");
    std::uint64_t data_bytes = 0;
    if (dense) {
      if (blocks != 1 && blocks != n) {
        r.fail_at(blocks_at, context + ": block count " + std::to_string(blocks) + " for " + std::to_string(n) +
                                 " elements; " + std::string(qt.name) + " tensors have 1 block (or one per value)");
      }
      if (__builtin_mul_overflow(n, std::uint64_t{qt.block_bytes}, &data_bytes)) {
        r.fail_at(blocks_at, context + ": " + std::to_string(n) + " values overflow the byte count");
      }
    } else {
      const std::uint64_t expected = n / kBlock + (n % kBlock != 0 ? 1 : 0);
      if (blocks != expected) {
        r.fail_at(blocks_at, context + ": block count " + std::to_string(blocks) + " for " + std::to_string(n) +
                                 " elements; expected " + std::to_string(expected) + " blocks of 32");
      }
      data_bytes = std::uint64_t{blocks} * qt.block_bytes;
    }
    const auto data = r.take(data_bytes, context + " block data");
    tensor.values.resize(static_cast<std::size_t>(n));
    if (type == 6) {
      std::memcpy(tensor.values.data(), data.data(), data.size());
    } else if (type == 5) {
      for (std::size_t i = 0; i < tensor.values.size(); ++i) tensor.values[i] = core::fp16_to_fp32(load_u16_le(data.data() + 2 * i));
    } else {
      decode_blocks(type, data.data(), blocks, tensor.values.data(), tensor.values.size());
    }
    params += n;
    file.tensors_.push_back(std::move(tensor));
  }
  if (r.remaining() != 0) {
    r.fail(std::to_string(r.remaining()) + " bytes after the last tensor");
  }
  if (params != file.total_params_) {
    r.fail_at(10, "the header counts " + std::to_string(file.total_params_) + " parameters but the tensors hold " +
                      std::to_string(params));
  }
  return file;
}

}  // namespace qlinear::io

namespace qlinear {

AxqtFile AxqtFile::open(const std::filesystem::path& path) {
  return io::AxqtParser::parse(io::MappedFile::open(path));
}

}  // namespace qlinear
