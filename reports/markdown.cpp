#include "reports/markdown.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace mbv2::markdown {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size())
    throw std::logic_error("markdown table row has more cells than columns");
  cells.resize(columns_.size());
  for (std::string& cell : cells) cell = escape_cell(cell);
  rows_.push_back(std::move(cells));
}

namespace {

std::string pad(const std::string& text, size_t width, Align align) {
  const size_t w = display_width(text);
  if (w >= width) return text;
  const std::string fill(width - w, ' ');
  return align == Align::kRight ? fill + text : text + fill;
}

}  // namespace

std::string Table::str() const {
  std::vector<size_t> widths(columns_.size(), 3);  // "---" is the narrowest separator
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = std::max(widths[c], display_width(escape_cell(columns_[c].header)));
    for (const auto& row : rows_) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  std::string out = "|";
  for (size_t c = 0; c < columns_.size(); ++c)
    out += " " + pad(escape_cell(columns_[c].header), widths[c], columns_[c].align) + " |";
  out += "\n|";
  for (size_t c = 0; c < columns_.size(); ++c) {
    // The colon takes one of the dashes so the separator keeps the column's width.
    if (columns_[c].align == Align::kRight) out += " " + std::string(widths[c] - 1, '-') + ": |";
    else out += " " + std::string(widths[c], '-') + " |";
  }
  out += "\n";
  for (const auto& row : rows_) {
    out += "|";
    for (size_t c = 0; c < columns_.size(); ++c)
      out += " " + pad(row[c], widths[c], columns_[c].align) + " |";
    out += "\n";
  }
  return out;
}

size_t display_width(const std::string& text) {
  size_t n = 0;
  for (unsigned char ch : text)
    if ((ch & 0xC0) != 0x80) ++n;  // count lead bytes, skip continuation bytes
  return n;
}

std::string escape_cell(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n' || ch == '\r' || ch == '\t') out += ' ';
    else out += ch;
  }
  return out;
}

const char* dash() { return "—"; }

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) return dash();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string format_us(double us) {
  if (!std::isfinite(us) || us < 0.0) return dash();
  const double a = std::fabs(us);
  const int decimals = a < 1.0 ? 3 : a < 10.0 ? 2 : a < 100.0 ? 1 : 0;
  return format_fixed(us, decimals);
}

std::string format_ratio(double ratio) {
  if (!std::isfinite(ratio) || ratio <= 0.0) return dash();
  return format_fixed(ratio, ratio < 10.0 ? 2 : 1) + "×";
}

std::string format_percent(double percent, int decimals) {
  if (!std::isfinite(percent)) return dash();
  return format_fixed(percent, decimals) + "%";
}

std::string format_change(double change) {
  if (!std::isfinite(change)) return dash();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.1f%%", change * 100.0);
  return buf;
}

std::string format_sci(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1e", value);
  return buf;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace mbv2::markdown
