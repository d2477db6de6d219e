#pragma once
// Aligned text tables for people: left-aligned text columns, right-aligned number columns.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace qlinear::core {

class Table {
 public:
  enum class Align { left, right };
  struct Column {
    std::string header;
    Align align = Align::right;
  };

  explicit Table(std::vector<Column> columns);
  void add_row(std::vector<std::string> cells);  // as many cells as columns
  void add_separator();                          // a rule before the next row (e.g. a total)
  void print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a separator
};

// Number formatting shared by the commands.
std::string format_fixed(double value, int decimals);
std::string format_significant(double value, int digits);  // 0.130, 2.57e-08, inf, 0
std::string format_count(unsigned long long value);       // 1234567 -> "1,234,567"
std::string format_shape(std::size_t rows, std::size_t cols);
std::string format_shape(const std::vector<std::uint64_t>& shape);  // "6625×120", "scalar" for {}

}  // namespace qlinear::core
