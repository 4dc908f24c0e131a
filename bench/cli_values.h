// Reading command-line values strictly: no sign where none belongs, no trailing text, no
// overflow. Every problem is an InputError "--flag=value: why" on one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mbv2::cli {

/// Throws InputError "--name=value: why".
[[noreturn]] void bad(const std::string& name, const std::string& value, const std::string& why);
bool all_digits(const std::string& s);
/// Decimal integer in [lo, hi]; `what` completes "'text' is not ...".
long long parse_integer(const std::string& name, const std::string& text, long long lo,
                        long long hi, const std::string& what);
uint64_t parse_seed(const std::string& name, const std::string& text);
/// A finite number.
double parse_real(const std::string& name, const std::string& text);
std::string trim(const std::string& s);
/// Comma-separated, trimmed, non-empty items; duplicates dropped (first kept).
std::vector<std::string> parse_list(const std::string& name, const std::string& text);
/// A list of `allowed` values, or "none" for the empty list.
std::vector<std::string> parse_choices(const std::string& name, const std::string& text,
                                       const std::vector<std::string>& allowed);
/// The file exists, is not a folder and opens for reading.
void require_readable_file(const std::string& name, const std::string& path);
/// The folder an output file will be written into exists already.
void require_output_folder(const std::string& name, const std::string& path);

}  // namespace mbv2::cli
