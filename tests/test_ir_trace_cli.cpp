// tools/mbv2_ir_trace's command line: a bad batch or extra arguments get one line on stderr
// naming the problem and exit 1, before any GPU work (so this runs without a GPU too).
#include "test_report_fixtures.h"

namespace mbv2 {
namespace {

using test::count_lines;
using test::shell_quote;

test::CommandResult ir_trace(const std::string& args) {
  return test::run_command(shell_quote(MBV2_IR_TRACE_EXE) + " " + args, test::fresh_temp_dir("ir_trace"));
}

TEST(IrTraceCli, BadArgumentsGetOneLineAndExitOne) {
  struct Case { const char* args; const char* says; };
  const Case cases[] = {{"0", "batch '0': expected 1..256"},
                        {"257", "batch '257': expected 1..256"},
                        {"x", "batch 'x': expected 1..256"},
                        {"2x", "batch '2x': expected 1..256"},
                        {"1 2", "usage: mbv2_ir_trace [batch]"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const test::CommandResult r = ir_trace(c.args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace mbv2
