// compare_models(): two files of one model, tensor by tensor, in double precision.

#include "core/text_table.hpp"
#include "model/json_values.hpp"
#include "model/output_error.hpp"
#include "model/source.hpp"

#include <qlinear/model.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <ostream>

namespace qlinear {
namespace {

struct Sums {
  double error2 = 0, a2 = 0, b2 = 0, ab = 0, max_abs = 0;
  std::uint64_t n = 0;

  void add(std::span<const float> a, std::span<const float> b) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = a[i], y = b[i], e = x - y;
      error2 += e * e, a2 += x * x, b2 += y * y, ab += x * y;
      max_abs = std::fmax(max_abs, std::fabs(e));
    }
    n += a.size();
  }
  double rel_rmse() const { return a2 > 0 ? std::sqrt(error2 / a2) : (error2 == 0 ? 0 : INFINITY); }
  double sqnr() const { return error2 == 0 ? INFINITY : 10 * std::log10(a2 / error2); }
  double cosine() const {
    if (a2 == 0 && b2 == 0) return 1;
    return a2 == 0 || b2 == 0 ? 0 : ab / std::sqrt(a2 * b2);
  }
};

// The output error of B against A on the tensor's calibration inputs, when the file has them and
// their width is A's row length; otherwise a note says why not.
void add_output_error(TensorComparison& c, const CalibrationFile& activations, std::span<const float> a,
                      std::span<const float> b, model::OutputErrorSums& pooled) {
  if (!activations.contains(c.name)) return;
  const std::size_t in = activations.in_features(c.name);
  if (c.shape.empty() || c.shape.back() != in) {
    c.note += std::string(c.note.empty() ? "" : "; ") + "activations have " + std::to_string(in) +
              " inputs, the rows " + (c.shape.empty() ? "0" : std::to_string(c.shape.back()));
    return;
  }
  const Calibration calibration = activations.calibration(c.name);
  activations.release(c.name);
  const auto sums = model::output_error_sums(a, b, a.size() / in, calibration);
  c.output_error = sums.relative();
  c.output_error2 = sums.error2;
  c.output_signal2 = sums.signal2;
  pooled += sums;
}

}  // namespace

ModelComparison compare_models(const std::filesystem::path& a, const std::filesystem::path& b,
                               const CalibrationFile* activations) {
  const auto source_a = model::ModelSource::open(a);
  const auto source_b = model::ModelSource::open(b);
  std::map<std::string, std::size_t> index_b;
  for (std::size_t i = 0; i < source_b->tensors().size(); ++i) index_b[source_b->tensors()[i].name] = i;

  ModelComparison out;
  out.a = a;
  out.b = b;
  Sums total;
  model::OutputErrorSums pooled;
  for (std::size_t i = 0; i < source_a->tensors().size(); ++i) {
    const auto& ta = source_a->tensors()[i];
    out.bytes_a += ta.nbytes;
    const auto it = index_b.find(ta.name);
    if (it == index_b.end()) {
      out.only_in_a.push_back(ta.name);
      continue;
    }
    const auto& tb = source_b->tensors()[it->second];
    out.bytes_b += tb.nbytes;
    TensorComparison c;
    c.name = ta.name;
    c.shape = ta.shape;
    c.format_a = ta.format_in;
    c.format_b = tb.format_in;
    std::uint64_t na = 1, nb = 1;
    for (auto d : ta.shape) na *= d;
    for (auto d : tb.shape) nb *= d;
    if (ta.shape != tb.shape && na != nb) {
      c.note = "shape " + core::format_shape(ta.shape) + " vs " + core::format_shape(tb.shape);
    } else if (!ta.floating || !tb.floating) {
      c.note = (!ta.floating ? ta.format_in : tb.format_in) + " cannot be read as floats";
    } else {
      if (ta.shape != tb.shape) c.note = "shape " + core::format_shape(ta.shape) + " vs " + core::format_shape(tb.shape);
      const auto va = source_a->read_floats(i);
      const auto vb = source_b->read_floats(it->second);
      Sums s;
      s.add(va.values, vb.values);
      total.add(va.values, vb.values);
      QuantStats st;
      st.rmse = s.n ? std::sqrt(s.error2 / static_cast<double>(s.n)) : 0;
      st.max_abs = s.max_abs;
      st.sqnr_db = s.sqnr();
      st.cosine = s.cosine();
      st.rel_rmse = s.rel_rmse();
      st.bytes = tb.nbytes;
      st.compression = tb.nbytes ? static_cast<double>(ta.nbytes) / static_cast<double>(tb.nbytes) : 0;
      c.stats = st;
      if (activations) add_output_error(c, *activations, va.values, vb.values, pooled);
      source_a->release(i);
      source_b->release(it->second);
    }
    out.tensors.push_back(std::move(c));
    index_b.erase(it);
  }
  for (const auto& t : source_b->tensors()) {
    if (index_b.count(t.name)) {
      out.only_in_b.push_back(t.name);
      out.bytes_b += t.nbytes;
    }
  }
  if (activations) {
    out.activations = activations->path();
    for (const auto& t : out.tensors) {
      if (!t.output_error) out.without_activations.push_back(t.name);
    }
    if (out.without_activations.size() < out.tensors.size()) out.output_error = pooled.relative();
  }
  out.rel_rmse = total.rel_rmse();
  out.sqnr_db = total.sqnr();
  out.cosine = total.cosine();
  return out;
}

void ModelComparison::print(std::ostream& os) const {
  using core::Table;
  const bool with_output = !activations.empty();  // out.err only with activations
  std::vector<Table::Column> columns = {{"tensor", Table::Align::left}, {"shape", Table::Align::left},
                                        {"A → B", Table::Align::left}, {"rel.RMSE"}, {"SQNR dB"}, {"cosine"},
                                        {"max |Δ|"}};
  if (with_output) columns.push_back({"out.err"});
  columns.push_back({"note", Table::Align::left});
  Table table(std::move(columns));
  for (const auto& t : tensors) {
    std::vector<std::string> row = {t.name, core::format_shape(t.shape), t.format_a + " → " + t.format_b};
    if (t.stats) {
      row.insert(row.end(), {core::format_significant(t.stats->rel_rmse, 3), core::format_fixed(t.stats->sqnr_db, 1),
                             core::format_fixed(t.stats->cosine, 6), core::format_significant(t.stats->max_abs, 3)});
    } else {
      row.insert(row.end(), {"-", "-", "-", "-"});
    }
    if (with_output) row.push_back(t.output_error ? core::format_significant(*t.output_error, 3) : "-");
    row.push_back(t.note);
    table.add_row(std::move(row));
  }
  table.add_separator();
  std::vector<std::string> total = {"TOTAL", std::to_string(tensors.size()) + " compared", "",
                                    core::format_significant(rel_rmse, 3), core::format_fixed(sqnr_db, 1),
                                    core::format_fixed(cosine, 6), ""};
  if (with_output) total.push_back(output_error ? core::format_significant(*output_error, 3) : "-");
  total.push_back(core::format_count(bytes_a) + " → " + core::format_count(bytes_b) + " bytes");
  table.add_row(std::move(total));
  table.print(os);
  for (const auto& name : only_in_a) os << "only in A: " << name << '\n';
  for (const auto& name : only_in_b) os << "only in B: " << name << '\n';
  if (!activations.empty()) {
    os << "out.err: ‖X(A−B)ᵀ‖ / ‖X·Aᵀ‖ on the inputs X in " << activations.string() << "; pooled over "
       << tensors.size() - without_activations.size() << " tensors: "
       << (output_error ? core::format_significant(*output_error, 4) : std::string("-")) << '\n';
    if (!without_activations.empty()) {
      std::string names;
      for (const auto& n : without_activations) names += (names.empty() ? "" : ", ") + n;
      os << "without inputs: " << names << '\n';
    }
  }
}

std::string ModelComparison::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : tensors) {
    nlohmann::json j = {{"name", t.name}, {"shape", t.shape}, {"format_a", t.format_a}, {"format_b", t.format_b}};
    if (t.stats) {
      j["rmse"] = t.stats->rmse;
      j["rel_rmse"] = model::finite_or_null(t.stats->rel_rmse);
      j["sqnr_db"] = model::finite_or_null(t.stats->sqnr_db);
      j["cosine"] = t.stats->cosine;
      j["max_abs"] = t.stats->max_abs;
    }
    if (t.output_error) {
      j["output_error"] = model::finite_or_null(*t.output_error);
      j["output_error2"] = t.output_error2;
      j["output_signal2"] = t.output_signal2;
    }
    if (!t.note.empty()) j["note"] = t.note;
    list.push_back(std::move(j));
  }
  nlohmann::json totals = {{"rel_rmse", model::finite_or_null(rel_rmse)},
                           {"sqnr_db", model::finite_or_null(sqnr_db)},
                           {"cosine", cosine},
                           {"bytes_a", bytes_a},
                           {"bytes_b", bytes_b}};
  if (output_error) totals["output_error"] = model::finite_or_null(*output_error);
  nlohmann::json out = {{"a", a.string()},
                        {"b", b.string()},
                        {"tensors", std::move(list)},
                        {"only_in_a", only_in_a},
                        {"only_in_b", only_in_b},
                        {"totals", std::move(totals)}};
  if (!activations.empty()) {
    out["activations"] = activations.string();
    out["without_activations"] = without_activations;
  }
  return out.dump(2);
}

}  // namespace qlinear
