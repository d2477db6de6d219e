// ModelReport: the per-tensor table a person reads, and the same facts as JSON.

#include "core/text_table.hpp"
#include "model/budget.hpp"
#include "model/json_values.hpp"

#include <qlinear/model.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <ostream>

namespace qlinear {
double ModelReport::compression() const noexcept {
  return bytes_out == 0 ? 0.0 : static_cast<double>(bytes_in) / static_cast<double>(bytes_out);
}

double ModelReport::bits_per_weight() const noexcept {
  return weights == 0 ? 0.0 : static_cast<double>(bytes_out) * 8.0 / static_cast<double>(weights);
}

void ModelReport::print(std::ostream& out) const {
  using core::Table;
  // out.err only where calibration data gave one.
  const bool with_output = output_error.has_value();
  std::vector<Table::Column> columns = {{"tensor", Table::Align::left}, {"shape", Table::Align::left},
                                        {"format", Table::Align::left}, {"bytes in"}, {"bytes out"},
                                        {"rel.RMSE"}, {"SQNR dB"}, {"cosine"}};
  if (with_output) columns.push_back({"out.err"});
  columns.insert(columns.end(), {{"ms"}, {"note", Table::Align::left}});
  Table table(std::move(columns));
  for (const TensorReport& t : tensors) {
    const auto& d = t.decision;
    std::vector<std::string> row = {d.name, core::format_shape(d.shape), d.format_in + " → " + t.format_out,
                                    core::format_count(t.bytes_in), core::format_count(t.bytes_out)};
    if (t.stats) {
      row.push_back(core::format_significant(t.stats->rel_rmse, 3));
      row.push_back(core::format_fixed(t.stats->sqnr_db, 1));
      row.push_back(core::format_fixed(t.stats->cosine, 6));
    } else {
      row.insert(row.end(), {"-", "-", "-"});
    }
    if (with_output) row.push_back(t.output_error ? core::format_significant(*t.output_error, 3) : "-");
    row.push_back(core::format_fixed(t.seconds * 1e3, 1));
    std::string note = d.reason == "default" ? "" : d.reason;
    if (t.importance) note += note.empty() ? "imatrix" : ", imatrix";
    // The method where it is not the plain default, or where the tensor could not have the one asked.
    if (!t.method.empty() && t.method != "reference" && t.method != "conversion") {
      note += (note.empty() ? "" : ", ") + t.method;
    }
    row.push_back(std::move(note));
    table.add_row(std::move(row));
  }
  table.add_separator();
  std::vector<std::string> total = {"TOTAL", std::to_string(tensors.size()) + " tensors", "",
                                    core::format_count(bytes_in), core::format_count(bytes_out), "", "", ""};
  if (with_output) total.push_back(core::format_significant(*output_error, 4));
  total.push_back(core::format_fixed(seconds * 1e3, 1));
  total.push_back(core::format_fixed(compression(), 2) + "× smaller, " + core::format_fixed(bits_per_weight(), 2) +
                  " bits/weight");
  table.add_row(std::move(total));
  table.print(out);
  if (budget) {
    std::vector<TensorDecision> decisions;
    for (const TensorReport& t : tensors) decisions.push_back(t.decision);
    model::print_budget_plan(out, *budget, decisions);
  }
}

std::string ModelReport::to_json() const {
  nlohmann::json tensors_json = nlohmann::json::array();
  for (const TensorReport& t : tensors) {
    nlohmann::json j = {{"name", t.decision.name},
                        {"shape", t.decision.shape},
                        {"format_in", t.decision.format_in},
                        {"format_out", t.format_out},
                        {"reason", t.decision.reason},
                        {"bytes_in", t.bytes_in},
                        {"bytes_out", t.bytes_out},
                        {"seconds", t.seconds},
                        {"importance", t.importance}};
    if (!t.method.empty()) j["method"] = t.method;
    if (t.decision.budget) j["budget"] = model::budget_json(*t.decision.budget, t.decision.shape);
    if (t.output_error) {
      j["output_error"] = model::finite_or_null(*t.output_error);
      j["output_error2"] = t.output_error2;
      j["output_signal2"] = t.output_signal2;
    }
    if (t.stats) {
      j["rmse"] = t.stats->rmse;
      j["rel_rmse"] = model::finite_or_null(t.stats->rel_rmse);
      j["max_abs"] = t.stats->max_abs;
      j["sqnr_db"] = model::finite_or_null(t.stats->sqnr_db);
      j["cosine"] = t.stats->cosine;
    }
    tensors_json.push_back(std::move(j));
  }
  nlohmann::json report = {{"input", input.string()},
                                 {"output", output.string()},
                                 {"tensors", std::move(tensors_json)},
                                 {"totals",
                                  {{"tensors", tensors.size()},
                                   {"weights", weights},
                                   {"bytes_in", bytes_in},
                                   {"bytes_out", bytes_out},
                                   {"compression", compression()},
                                   {"bits_per_weight", bits_per_weight()},
                                   {"seconds", seconds}}}};
  if (output_error) report["totals"]["output_error"] = model::finite_or_null(*output_error);
  if (budget) report["totals"]["budget"] = model::budget_json(*budget);
  return report.dump(2);
}

}  // namespace qlinear
