#include "model/affine_gguf.hpp"

#include "formats/affine.hpp"

#include <qlinear/error.hpp>

#include <cstring>

namespace qlinear::model {
namespace {

using Granularity = AffineOptions::Granularity;

constexpr std::uint32_t kGgmlI8 = 24, kGgmlF32 = 0;

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::tensor: return "tensor";
    case Granularity::channel: return "channel";
    case Granularity::group: return "group";
  }
  return "channel";
}

std::uint64_t product(const std::vector<std::uint64_t>& dims, std::size_t from, std::size_t to) {
  std::uint64_t p = 1;
  for (std::size_t i = from; i < to; ++i) p *= dims[i];
  return p;
}

std::vector<std::byte> float_bytes(std::span<const float> values) {
  std::vector<std::byte> bytes(values.size() * sizeof(float));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

[[noreturn]] void malformed(const GgufFile& file, const std::string& name, const std::string& what) {
  throw Error(ErrorCode::malformed_file,
              file.path().string() + ": affine tensor '" + name + "': " + what);
}

}  // namespace

std::string affine_scale_name(const std::string& name) { return name + ".scale"; }
std::string affine_zero_point_name(const std::string& name) { return name + ".zero_point"; }
std::string affine_key(const std::string& name, const char* field) {
  return "qlinear.affine." + name + "." + field;
}

std::vector<PlannedTensor> affine_tensors(const std::string& name, const std::vector<std::uint64_t>& shape,
                                          Format format, const AffineOptions& options) {
  const std::uint64_t cols = shape.back();
  const std::uint64_t rows = product(shape, 0, shape.size() - 1);
  std::vector<std::uint64_t> code_shape = shape;
  if (format == Format::i4) code_shape.back() = (cols + 1) / 2;
  std::vector<std::uint64_t> scale_shape;
  switch (options.granularity) {
    case Granularity::tensor: scale_shape = {1}; break;
    case Granularity::channel: scale_shape = {rows, 1}; break;
    case Granularity::group: {
      const std::uint64_t padded = (cols + 31) / 32 * 32;  // as QuantizedTensor lays out its groups
      scale_shape = {rows, (padded + options.group_size - 1) / options.group_size};
      break;
    }
  }
  std::vector<PlannedTensor> out = {{name, code_shape, kGgmlI8},
                                    {affine_scale_name(name), scale_shape, kGgmlF32}};
  if (!options.symmetric) out.push_back({affine_zero_point_name(name), scale_shape, kGgmlF32});
  return out;
}

void add_affine_metadata(GgufWriter& writer, const std::string& name,
                         const std::vector<std::uint64_t>& shape, Format format,
                         const AffineOptions& options) {
  std::vector<GgufValue> dims;
  for (auto d : shape) dims.push_back(GgufValue::u64(d));
  writer.set(affine_key(name, "format"), GgufValue::string(std::string(format_name(format))));
  writer.set(affine_key(name, "symmetric"), GgufValue::boolean(options.symmetric));
  writer.set(affine_key(name, "granularity"), GgufValue::string(granularity_name(options.granularity)));
  writer.set(affine_key(name, "group_size"),
             GgufValue::u32(static_cast<std::uint32_t>(options.group_size)));
  writer.set(affine_key(name, "shape"), GgufValue::array(GgufValueType::u64, std::move(dims)));
}

std::vector<std::vector<std::byte>> affine_tensor_bytes(const QuantizedTensor& q) {
  const formats::AffineSpec spec = formats::affine_spec(q.format(), q.affine_options());
  const std::size_t rows = q.rows(), cols = q.cols();
  const std::size_t row_out = spec.bits == 8 ? cols : (cols + 1) / 2;
  std::vector<std::byte> codes(rows * row_out);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::byte* src = q.row_data(r).data();
    std::byte* dst = codes.data() + r * row_out;
    if (spec.bits == 8) {
      std::memcpy(dst, src, cols);
      continue;
    }
    for (std::size_t c = 0; c < cols; c += 2) {
      const auto stored = [&](std::size_t col) {
        // Stored nibbles: q + 8 when symmetric, q when asymmetric (the same as in memory).
        const int level = formats::load_affine_code(src, col, spec);
        return static_cast<unsigned>(spec.symmetric ? level + 8 : level) & 0x0fu;
      };
      // With an odd row length the last high nibble is column `cols`: padding, which holds the code
      // of zero (rows are padded to 32, so that column exists).
      dst[c / 2] = static_cast<std::byte>(stored(c) | (stored(c + 1) << 4));
    }
  }
  std::vector<std::vector<std::byte>> out = {std::move(codes), float_bytes(q.scales())};
  if (!spec.symmetric) {
    std::vector<float> zero_points(q.zero_points().begin(), q.zero_points().end());
    out.push_back(float_bytes(zero_points));
  }
  return out;
}

bool is_affine_companion(const GgufFile& file, const std::string& tensor_name) {
  for (const char* suffix : {".scale", ".zero_point"}) {
    const std::string s = suffix;
    if (tensor_name.size() > s.size() && tensor_name.ends_with(s)) {
      const std::string base = tensor_name.substr(0, tensor_name.size() - s.size());
      if (file.find(affine_key(base, "format"))) return true;
    }
  }
  return false;
}

std::optional<AffineMetadata> read_affine_metadata(const GgufFile& file, const std::string& name) {
  const GgufValue* format_value = file.find(affine_key(name, "format"));
  if (!format_value) return std::nullopt;
  try {
    AffineMetadata m;
    m.format = parse_format(format_value->as_string());
    if (m.format != Format::i8 && m.format != Format::i4) malformed(file, name, "format is not i8 or i4");
    const GgufValue* sym = file.find(affine_key(name, "symmetric"));
    const GgufValue* gran = file.find(affine_key(name, "granularity"));
    const GgufValue* group = file.find(affine_key(name, "group_size"));
    const GgufValue* shape_value = file.find(affine_key(name, "shape"));
    if (!sym || !gran || !group || !shape_value) malformed(file, name, "incomplete qlinear.affine metadata");
    m.options.symmetric = sym->as_bool();
    const std::string& g = gran->as_string();
    if (g == "tensor") {
      m.options.granularity = Granularity::tensor;
    } else if (g == "group") {
      m.options.granularity = Granularity::group;
    } else if (g != "channel") {
      malformed(file, name, "unknown granularity '" + g + "'");
    }
    m.options.group_size = m.options.granularity == Granularity::group ? group->as_u64() : 0;
    if (m.options.granularity == Granularity::group && (m.options.group_size == 0 || m.options.group_size % 8)) {
      malformed(file, name, "group_size " + std::to_string(m.options.group_size) + " is not a positive multiple of 8");
    }
    // The count first: a file may hold any number of elements here, and only 2 to 4 are read.
    const std::size_t dims = shape_value->array_size();
    if (dims < 2 || dims > 4) malformed(file, name, "shape must have 2 to 4 dimensions");
    for (std::size_t i = 0; i < dims; ++i) m.shape.push_back(shape_value->array_element(i).as_u64());
    for (auto d : m.shape) {
      if (d == 0) malformed(file, name, "shape has a zero dimension");
    }
    return m;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::malformed_file) throw;
    malformed(file, name, e.what());  // a metadata value of the wrong type
  }
}

std::optional<QuantizedTensor> read_affine(const GgufFile& file, const std::string& name) {
  const auto metadata = read_affine_metadata(file, name);
  if (!metadata) return std::nullopt;
  const Format format = metadata->format;
  const AffineOptions& options = metadata->options;
  const std::vector<std::uint64_t>& shape = metadata->shape;
  try {
    // Every companion tensor must be present with exactly the planned shape and type.
    const auto planned = affine_tensors(name, shape, format, options);
    std::vector<std::span<const std::byte>> parts;
    for (const auto& p : planned) {
      const GgufTensorInfo* info = file.find_tensor(p.name);
      if (!info) malformed(file, name, "missing tensor '" + p.name + "'");
      if (info->ggml_type != p.ggml_type || info->shape != p.shape) {
        malformed(file, name, "tensor '" + p.name + "' has a different type or shape than its metadata implies");
      }
      parts.push_back(file.tensor_data(*info));
    }
    const std::uint64_t cols = shape.back();
    const std::uint64_t rows = product(shape, 0, shape.size() - 1);
    const formats::AffineSpec spec{format == Format::i8 ? 8 : 4, options.symmetric};

    // Scales and zero points as floats in the file; zero points must be integers in range.
    std::vector<float> scales(parts[1].size() / sizeof(float));
    std::memcpy(scales.data(), parts[1].data(), parts[1].size());
    std::vector<std::uint8_t> zero_points;
    if (!options.symmetric) {
      std::vector<float> zp(parts[2].size() / sizeof(float));
      std::memcpy(zp.data(), parts[2].data(), parts[2].size());
      for (float z : zp) {
        if (!(z >= 0 && z <= spec.qmax()) || z != static_cast<float>(static_cast<int>(z))) {
          malformed(file, name, "zero point " + std::to_string(z) + " is not an integer in [0, " +
                                    std::to_string(spec.qmax()) + "]");
        }
        zero_points.push_back(static_cast<std::uint8_t>(z));
      }
    }

    // Codes back into qlinear's padded row layout; the padding holds each group's zero code.
    const std::size_t padded = (cols + 31) / 32 * 32;
    const std::size_t row_bytes = spec.bits == 8 ? padded : padded / 2;
    std::vector<std::byte> codes(rows * row_bytes);
    const std::size_t row_in = spec.bits == 8 ? cols : (cols + 1) / 2;
    const std::size_t groups = scales.size() / (options.granularity == Granularity::tensor ? 1 : rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::byte* src = parts[0].data() + r * row_in;
      std::byte* dst = codes.data() + r * row_bytes;
      for (std::size_t c = 0; c < padded; ++c) {
        int level;
        if (c >= cols) {
          const std::size_t s = options.granularity == Granularity::tensor
                                    ? 0
                                    : r * groups + (options.granularity == Granularity::group ? c / options.group_size : 0);
          level = options.symmetric ? 0 : zero_points[s];
        } else if (spec.bits == 8) {
          const auto raw = static_cast<std::uint8_t>(src[c]);
          level = options.symmetric ? static_cast<std::int8_t>(raw) : raw;
        } else {
          const auto byte = static_cast<unsigned>(src[c / 2]);
          const int nibble = static_cast<int>(c % 2 ? byte >> 4 : byte & 0x0fu);
          level = options.symmetric ? nibble - 8 : nibble;
        }
        if (level < spec.qmin() || level > spec.qmax()) {
          malformed(file, name, "code " + std::to_string(level) + " at row " + std::to_string(r) +
                                    ", column " + std::to_string(c) + " is out of range");
        }
        formats::store_affine_code(dst, c, level, spec);
      }
    }
    return QuantizedTensor::from_affine(format, rows, cols, options, codes, scales, zero_points);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::malformed_file) throw;
    malformed(file, name, e.what());
  }
}

}  // namespace qlinear::model
