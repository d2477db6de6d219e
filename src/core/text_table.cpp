#include "core/text_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qlinear::core {
namespace {

// Display width in columns: UTF-8 continuation bytes take no column of their own.
std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::add_separator() { rows_.emplace_back(); }

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = display_width(columns_[c].header);
    for (const auto& row : rows_) {
      if (!row.empty()) widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  auto print_cells = [&](const std::vector<std::string>& cells) {
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::string pad(widths[c] - display_width(cells[c]), ' ');
      const bool left = columns_[c].align == Align::left;
      if (c != 0) out << "  ";
      out << (left ? cells[c] + (c + 1 == columns_.size() ? "" : pad) : pad + cells[c]);
    }
    out << '\n';
  };
  auto print_rule = [&] {
    std::size_t total = 0;
    for (std::size_t w : widths) total += w;
    total += 2 * (widths.size() - 1);
    std::string rule;
    for (std::size_t i = 0; i < total; ++i) rule += "─";
    out << rule << '\n';
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  print_cells(headers);
  print_rule();
  for (const auto& row : rows_) {
    if (row.empty()) {
      print_rule();
    } else {
      print_cells(row);
    }
  }
}

std::string format_fixed(double value, int decimals) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string format_significant(double value, int digits) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%#.*g", digits, value);  // '#' keeps trailing zeros: 0.130
  return buf;
}

std::string format_count(unsigned long long value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_shape(std::size_t rows, std::size_t cols) {
  return std::to_string(rows) + "×" + std::to_string(cols);
}

std::string format_shape(const std::vector<std::uint64_t>& shape) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "×" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

}  // namespace qlinear::core
