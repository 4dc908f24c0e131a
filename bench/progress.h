// Progress lines on stderr, stamped with the seconds since the run started, so stdout
// carries nothing but the markdown summary.
#pragma once

#include <string>

namespace mbv2 {
/// "[  12.3 s] message" on stderr.
void progress(const std::string& message);
/// Seconds since the first call of progress() or elapsed_s().
double elapsed_s();
}  // namespace mbv2
