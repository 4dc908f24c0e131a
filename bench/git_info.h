// The git commit a run was built from, read at run time from the source checkout.
#pragma once

#include <string>

#include "common/report.h"

namespace mbv2 {
/// `git -C dir rev-parse HEAD` and `git status --porcelain`; sha "unknown" (not dirty)
/// when git or the checkout is not there.
/// Falls back to MBV2_GIT_SHA / MBV2_GIT_DIRTY=1 when `git` cannot answer.
GitInfo read_git_info(const std::string& source_dir);
}  // namespace mbv2
