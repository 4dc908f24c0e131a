// The markdown helpers: aligned tables and number formats.
#include <cmath>

#include "reports/markdown.h"
#include "test_report_fixtures.h"

namespace mbv2::markdown {
namespace {

TEST(ReportMarkdown, TableColumnsLineUp) {
  Table t({{"name", Align::kLeft}, {"µs", Align::kRight}});
  t.add_row({"a", "1.50"});
  t.add_row({"longer|name", "123"});
  const std::string s = t.str();
  EXPECT_EQ(s,
            "| name         |   µs |\n"
            "| ------------ | ---: |\n"
            "| a            | 1.50 |\n"
            "| longer\\|name |  123 |\n");
  EXPECT_THROW(t.add_row({"1", "2", "3"}), std::logic_error);
}

TEST(ReportMarkdown, DisplayWidthCountsCodePoints) {
  EXPECT_EQ(display_width("abc"), 3u);
  EXPECT_EQ(display_width("112x112x32→56x56x32"), 19u);
  EXPECT_EQ(display_width("1.2× ✓"), 6u);
}

TEST(ReportMarkdown, NumberFormats) {
  EXPECT_EQ(format_us(0.8421), "0.842");
  EXPECT_EQ(format_us(3.4712), "3.47");
  EXPECT_EQ(format_us(34.71), "34.7");
  EXPECT_EQ(format_us(347.1), "347");
  EXPECT_EQ(format_us(12345.6), "12346");
  EXPECT_EQ(format_us(std::nan("")), "—");
  EXPECT_EQ(format_ratio(1.234), "1.23×");
  EXPECT_EQ(format_ratio(0.0), "—");
  EXPECT_EQ(format_percent(43.25), "43.2%");
  EXPECT_EQ(format_change(0.052), "+5.2%");
  EXPECT_EQ(format_change(-0.2), "-20.0%");
  EXPECT_EQ(format_sci(1.23e-7), "1.2e-07");
  EXPECT_EQ(format_sci(0.0), "0");
  EXPECT_EQ(escape_cell("a|b\nc"), "a\\|b c");
}

}  // namespace
}  // namespace mbv2::markdown
