#include "common/file_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/util.h"

namespace mbv2 {

std::vector<uint8_t> read_file_bytes(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw InputError("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  const std::streamsize size = in.tellg();
  if (size < 0) throw InputError("cannot read " + what + " '" + path + "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw InputError("cannot read " + what + " '" + path + "'");
  return bytes;
}

void write_file_bytes(const std::string& path, const void* data, size_t size) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("cannot write '" + path + "': " + std::strerror(errno));
    out.write(static_cast<const char*>(data), std::streamsize(size));
    if (!out) throw InputError("cannot write '" + path + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw InputError("cannot write '" + path + "' (rename failed)");
  }
}

}  // namespace mbv2
