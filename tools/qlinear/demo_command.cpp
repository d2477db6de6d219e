// qlinear demo: quantize real weight matrices in every format and show what each format costs in
// size and accuracy, per tensor and in total, plus the error of a quantized forward pass.

#include "affine_flags.hpp"
#include "commands.hpp"

#include <qlinear/qlinear.hpp>
#include <qlinear/safetensors.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>

#ifndef QLINEAR_DEMO_WEIGHTS
#define QLINEAR_DEMO_WEIGHTS "data/ppocrv4_rec_linear.safetensors"
#endif

namespace {
// The bundled weights: in the source tree this binary was built from, or installed beside it
// (<prefix>/bin/qlinear and <prefix>/share/qlinear/).
std::string default_weights() {
  std::error_code ec;
  if (std::filesystem::exists(QLINEAR_DEMO_WEIGHTS, ec)) return QLINEAR_DEMO_WEIGHTS;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share/qlinear/ppocrv4_rec_linear.safetensors";
    if (std::filesystem::exists(installed, ec)) return installed.string();
  }
  return QLINEAR_DEMO_WEIGHTS;
}
}  // namespace

namespace qlinear::cli {
namespace {

struct Variant {
  Format format;
  AffineOptions affine;
  std::string label;
};

struct DemoOptions {
  std::string weights = default_weights();
  std::vector<std::string> formats;
  std::size_t batch = 4;
  unsigned seed = 1;
  bool brief = false;
  AffineFlags affine;
};

struct Matrix {
  std::string name;
  std::size_t rows, cols;
  std::vector<float> w, bias, x;  // x: the random input batch for this matrix
};

// Running sums over every matrix of one variant, for the TOTAL row.
struct Totals {
  double weights = 0, bytes = 0, error2 = 0, signal2 = 0, restored2 = 0, dot = 0;
  double y_error2 = 0, y_ref2 = 0, quantize_seconds = 0;
};

struct Row {
  QuantStats stats;
  double forward_rel_error;
};

std::vector<Variant> choose_variants(const DemoOptions& o) {
  const AffineOptions flags = o.affine.options();
  auto label = [&](Format f, const std::string& affine) {
    return std::string(format_name(f)) + (format_info(f).affine ? " (" + affine + ")" : "");
  };
  std::vector<Variant> variants;
  if (!o.formats.empty()) {
    for (const auto& name : o.formats) {
      const Format f = parse_format(name);
      variants.push_back({f, flags, label(f, o.affine.describe())});
    }
    return variants;
  }
  for (const FormatInfo& f : all_formats()) {
    variants.push_back({f.format, flags, label(f.format, o.affine.describe())});
  }
  AffineOptions showcase;
  showcase.symmetric = false;
  showcase.granularity = AffineOptions::Granularity::group;
  showcase.group_size = 32;
  showcase.calibration = AffineOptions::Calibration::mse;
  variants.push_back({Format::i4, showcase, "i4 (asym, group 32, mse)"});
  return variants;
}

std::vector<Matrix> load_matrices(const DemoOptions& o) {
  const SafetensorsFile file = SafetensorsFile::open(o.weights);
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Matrix> matrices;
  for (const auto& info : file.tensors()) {
    if (info.shape.size() != 2) continue;  // the demo shows matrices only
    Matrix m{info.name, info.shape[0], info.shape[1], file.read_f32(info.name), {}, {}};
    m.bias.resize(m.rows);
    for (float& b : m.bias) b = 0.1f * normal(rng);
    m.x.resize(o.batch * m.cols);
    for (float& v : m.x) v = normal(rng);
    matrices.push_back(std::move(m));
  }
  if (matrices.empty()) {
    throw Error(ErrorCode::invalid_argument, o.weights + ": no 2-D tensors to quantize");
  }
  return matrices;
}

Row run_one(const Matrix& m, const Variant& v, std::size_t batch, Totals& totals) {
  const auto start = std::chrono::steady_clock::now();
  QuantizedTensor q = quantize(m.w, m.rows, m.cols, v.format, v.affine);
  totals.quantize_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  Row row{measure(m.w, q), 0.0};
  const std::vector<float> restored = dequantize(q);
  for (std::size_t i = 0; i < m.w.size(); ++i) {
    totals.error2 += std::pow(double(m.w[i]) - restored[i], 2);
    totals.signal2 += double(m.w[i]) * m.w[i];
    totals.restored2 += double(restored[i]) * restored[i];
    totals.dot += double(m.w[i]) * restored[i];
  }
  totals.weights += static_cast<double>(m.w.size());
  totals.bytes += static_cast<double>(q.nbytes());

  const QuantizedLinear layer = QuantizedLinear::from_quantized(std::move(q), m.bias);
  const std::vector<float> y = layer.forward(m.x, batch);
  double error2 = 0, ref2 = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < m.rows; ++r) {
      double ref = m.bias[r];  // against the unquantized weights, in double
      for (std::size_t c = 0; c < m.cols; ++c) ref += double(m.x[b * m.cols + c]) * m.w[r * m.cols + c];
      error2 += std::pow(y[b * m.rows + r] - ref, 2);
      ref2 += ref * ref;
    }
  }
  totals.y_error2 += error2;
  totals.y_ref2 += ref2;
  row.forward_rel_error = std::sqrt(error2 / ref2);
  return row;
}

std::vector<std::string> stats_cells(double bits, double bytes, double compression, double rel_rmse,
                                     double sqnr, double cosine, double forward) {
  return {format_fixed(bits, 2),        format_count(static_cast<unsigned long long>(bytes)),
          format_fixed(compression, 2) + "×", format_significant(rel_rmse, 3),
          format_fixed(sqnr, 1),        format_fixed(cosine, 6),
          format_significant(forward, 3)};
}

std::vector<Table::Column> stats_columns(std::vector<Table::Column> leading) {
  for (const char* name : {"bits/w", "bytes", "compr.", "rel.RMSE", "SQNR dB", "cosine", "fwd rel.err"}) {
    leading.push_back({name});
  }
  return leading;
}

std::vector<std::string> total_cells(const Totals& t) {
  const double sqnr = t.error2 == 0 ? INFINITY : 10 * std::log10(t.signal2 / t.error2);
  const double cosine = t.dot / std::sqrt(t.signal2 * t.restored2);
  return stats_cells(t.bytes * 8 / t.weights, t.bytes, 4 * t.weights / t.bytes,
                     std::sqrt(t.error2 / t.signal2), sqnr, cosine, std::sqrt(t.y_error2 / t.y_ref2));
}

void run_demo(const DemoOptions& o) {
  if (o.batch == 0) throw Error(ErrorCode::invalid_argument, "--batch must be at least 1");
  const std::vector<Variant> variants = choose_variants(o);
  const std::vector<Matrix> matrices = load_matrices(o);
  std::size_t total_weights = 0;
  for (const auto& m : matrices) total_weights += m.w.size();
  std::cout << "qlinear demo: " << matrices.size() << " weight matrices, "
            << format_count(total_weights) << " weights, from " << o.weights << "\n"
            << "fwd rel.err: ‖x·Ŵᵀ+b − x·Wᵀ−b‖ / ‖x·Wᵀ+b‖ on a random N(0,1) batch of " << o.batch
            << ", against the unquantized weights in double.\n";

  auto summary_columns = stats_columns({{"format", Table::Align::left}});
  summary_columns.push_back({"quantize ms"});
  Table summary(std::move(summary_columns));
  for (const Variant& v : variants) {
    Table table(stats_columns({{"tensor", Table::Align::left}, {"shape", Table::Align::left}}));
    Totals totals;
    for (const Matrix& m : matrices) {
      const Row row = run_one(m, v, o.batch, totals);
      const QuantStats& s = row.stats;
      auto values = stats_cells(static_cast<double>(s.bytes) * 8 / static_cast<double>(m.w.size()),
                                static_cast<double>(s.bytes), s.compression, s.rel_rmse, s.sqnr_db,
                                s.cosine, row.forward_rel_error);
      values.insert(values.begin(), {m.name, format_shape(m.rows, m.cols)});
      table.add_row(std::move(values));
    }
    auto total = total_cells(totals);
    total.insert(total.begin(), {"TOTAL", ""});
    table.add_separator();
    table.add_row(total);
    if (!o.brief) {
      std::cout << "\n== " << v.label << " ==\n";
      table.print(std::cout);
    }
    auto row = total_cells(totals);
    row.insert(row.begin(), v.label);
    row.push_back(format_fixed(totals.quantize_seconds * 1e3, 1));
    summary.add_row(std::move(row));
  }
  std::cout << "\n== summary: all " << matrices.size() << " matrices ==\n";
  summary.print(std::cout);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "Quantize the bundled real weights (PP-OCRv4) in every format and compare the errors");
  cmd->add_option("--weights", options->weights, "safetensors file of F32/F16/BF16 matrices")
      ->capture_default_str();
  cmd->add_option("--format", options->formats, "only these formats (repeat the flag for several)")
      ->check(format_name_validator());
  cmd->add_option("--batch", options->batch, "rows of the random input batch")->capture_default_str();
  cmd->add_option("--seed", options->seed, "seed of the random inputs")->capture_default_str();
  cmd->add_flag("--brief", options->brief, "print only the summary table");
  options->affine.add_to(*cmd);
  cmd->callback([options] { run_demo(*options); });
}

}  // namespace qlinear::cli
