// Markdown building blocks for the report tools: aligned tables and number formats.
//
// Tables are padded so they line up in a terminal as well as render on GitHub.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mbv2::markdown {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

/// A GitHub-flavoured markdown table with padded, aligned columns.
class Table {
 public:
  explicit Table(std::vector<Column> columns);
  /// Missing cells are left empty; extra cells are an error (std::logic_error).
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  size_t size() const { return rows_.size(); }
  /// The table, one line per row, ending with a newline.
  std::string str() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

/// Width in terminal columns: UTF-8 code points, each counted as one.
size_t display_width(const std::string& text);
/// Makes text safe inside a table cell: '|' escaped, newlines turned into spaces.
std::string escape_cell(const std::string& text);

/// Microseconds with three significant figures or more: 0.842, 3.47, 34.7, 347, 12345.
std::string format_us(double us);
/// Fixed decimals; "—" for NaN or infinity.
std::string format_fixed(double value, int decimals);
/// A ratio as "1.23×".
std::string format_ratio(double ratio);
/// A percentage already in percent units: "43.2%".
std::string format_percent(double percent, int decimals = 1);
/// A signed relative change (0.052 → "+5.2%").
std::string format_change(double change);
/// Small error metrics in scientific notation: "1.2e-07"; "0" for exactly zero.
std::string format_sci(double value);
/// "—", the placeholder for a value that does not exist.
const char* dash();

/// Elements joined with `sep`.
std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace mbv2::markdown
