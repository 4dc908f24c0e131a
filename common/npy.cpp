#include "common/npy.h"

#include <cstring>
#include <regex>
#include <sstream>

#include "common/file_io.h"
#include "common/util.h"

namespace mbv2 {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ")";
  return s.str();
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  const std::vector<uint8_t> file = read_file_bytes(path, ".npy file");
  const std::string where = ".npy file '" + path + "'";
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (file.size() < 10 || std::memcmp(file.data(), kMagic, 6) != 0)
    throw InputError(where + " is not a NumPy .npy file (bad magic)");
  const int major = file[6];
  size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = size_t(file[8]) | (size_t(file[9]) << 8);
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (file.size() < 12) throw InputError(where + " is truncated");
    header_len = size_t(file[8]) | (size_t(file[9]) << 8) | (size_t(file[10]) << 16) |
                 (size_t(file[11]) << 24);
    header_at = 12;
  } else {
    throw InputError(where + " has unsupported format version " + std::to_string(major));
  }
  if (header_at + header_len > file.size()) throw InputError(where + " is truncated (header)");
  const std::string header(reinterpret_cast<const char*>(file.data() + header_at), header_len);

  std::smatch m;
  NpyArray out;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    throw InputError(where + " has no 'descr' in its header");
  out.dtype = m[1];
  size_t esize = 0;
  if (out.dtype == "<f4") esize = 4;
  else if (out.dtype == "<f8") esize = 8;
  else throw InputError(where + " has dtype '" + out.dtype + "'; expected float32 '<f4' or float64 '<f8'");
  if (!std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
    throw InputError(where + " has no 'fortran_order' in its header");
  if (m[1] == "True") throw InputError(where + " is in Fortran order; expected C order");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    throw InputError(where + " has no 'shape' in its header");
  const std::string dims = m[1];
  const std::regex num(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it)
    out.shape.push_back(std::stoll(it->str()));

  int64_t count = 1;
  for (int64_t d : out.shape) count *= d;
  const size_t data_at = header_at + header_len;
  const size_t need = size_t(count) * esize;
  if (file.size() - data_at < need)
    throw InputError(where + " is truncated: shape " + shape_str(out.shape) + " needs " +
                     std::to_string(need) + " bytes of data, found " +
                     std::to_string(file.size() - data_at));
  if (file.size() - data_at > need)
    throw InputError(where + " has " + std::to_string(file.size() - data_at - need) +
                     " unexpected bytes after the data");
  out.values.resize(size_t(count));
  const uint8_t* p = file.data() + data_at;
  for (int64_t i = 0; i < count; ++i) {
    if (esize == 4) {
      float f;
      std::memcpy(&f, p + i * 4, 4);
      out.values[size_t(i)] = f;
    } else {
      double d;
      std::memcpy(&d, p + i * 8, 8);
      out.values[size_t(i)] = d;
    }
  }
  return out;
}

HostTensor read_npy_tensor(const std::string& path, Shape4 expected) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 4)
    throw InputError(".npy file '" + path + "' has shape " + shape_str(a.shape) +
                     "; expected a 4-D NCHW tensor");
  const Shape4 s{int(a.shape[0]), int(a.shape[1]), int(a.shape[2]), int(a.shape[3])};
  const int want[4] = {expected.n, expected.c, expected.h, expected.w};
  const int got[4] = {s.n, s.c, s.h, s.w};
  for (int i = 0; i < 4; ++i) {
    if (want[i] != 0 && want[i] != got[i]) {
      std::ostringstream e;
      e << ".npy file '" << path << "' has shape " << shape_str(a.shape) << "; expected ("
        << (expected.n ? std::to_string(expected.n) : "N") << ", " << expected.c << ", "
        << expected.h << ", " << expected.w << ")";
      throw InputError(e.str());
    }
  }
  HostTensor t(s, Layout::kNCHW);
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = float(a.values[i]);
  return t;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<float>& values) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (size_t(count) != values.size())
    throw InputError("write_npy: " + std::to_string(values.size()) +
                     " values do not match shape " + shape_str(shape));
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + ", ";
  if (shape.size() > 1) dims.erase(dims.size() - 2);  // "(3,)" keeps its comma, "(2, 3)" does not
  else if (!dims.empty()) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::vector<uint8_t> out(10 + header.size() + values.size() * 4);
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(out.data(), magic, 8);
  out[8] = uint8_t(header.size() & 0xff);
  out[9] = uint8_t(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (!values.empty()) std::memcpy(out.data() + 10 + header.size(), values.data(), values.size() * 4);
  write_file_bytes(path, out.data(), out.size());
}

}  // namespace mbv2
