// PNG through libpng's simplified API, JPEG through libjpeg, and torchvision's
// eval preprocessing with PIL's antialiased bilinear resize reproduced exactly
// (8-bit fixed-point, horizontal pass then vertical), so a photo gives the same
// tensor here as in PyTorch.
#include "common/image.h"

#include <png.h>

#include <csetjmp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "common/file_io.h"
#include "common/util.h"

namespace mbv2 {

namespace {

RgbImage decode_png(const std::vector<uint8_t>& bytes, const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    throw InputError("cannot decode PNG '" + path + "': " + image.message);
  image.format = PNG_FORMAT_RGB;
  RgbImage out;
  out.width = int(image.width);
  out.height = int(image.height);
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    const std::string msg = image.message;
    png_image_free(&image);
    throw InputError("cannot decode PNG '" + path + "': " + msg);
  }
  return out;
}

struct JpegErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg only warns about corrupt or truncated data and then invents grey pixels;
// a benchmark input must not be silently wrong, so warnings are errors here.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_error_exit(cinfo);
}

RgbImage decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = jpeg_error_exit;
  err.base.emit_message = jpeg_emit_message;
  err.message[0] = 0;
  // Everything that must be released after a longjmp lives outside this frame's
  // automatic C++ objects: the output vector is created before setjmp.
  RgbImage out;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw InputError("cannot decode JPEG '" + path + "': " + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out.width = int(cinfo.output_width);
  out.height = int(cinfo.output_height);
  out.pixels.resize(size_t(out.width) * out.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + size_t(cinfo.output_scanline) * out.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

// PIL's resampling coefficients for one axis (bilinear = triangle filter, support 1,
// widened by the downscale factor), as 8-bit fixed point with 22 fractional bits.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct AxisCoeffs {
  int ksize = 0;
  std::vector<int> bounds;  // per output: xmin, count
  std::vector<int> kk;      // per output: ksize coefficients
};

AxisCoeffs compute_coeffs(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  AxisCoeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.bounds.resize(size_t(out_size) * 2);
  c.kk.assign(size_t(out_size) * c.ksize, 0);
  std::vector<double> k(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double t = std::fabs((x + xmin - center + 0.5) * ss);
      const double w = t < 1.0 ? 1.0 - t : 0.0;
      k[size_t(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      const double kn = ww != 0.0 ? k[size_t(x)] / ww : k[size_t(x)];
      const double scaled = kn * (1 << kPrecisionBits);
      c.kk[size_t(xx) * c.ksize + x] = int(kn < 0 ? std::trunc(-0.5 + scaled) : std::trunc(0.5 + scaled));
    }
    c.bounds[size_t(xx) * 2] = xmin;
    c.bounds[size_t(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int64_t v) {
  const int64_t x = v >> kPrecisionBits;
  return uint8_t(x < 0 ? 0 : (x > 255 ? 255 : x));
}

RgbImage resize_bilinear_pil(const RgbImage& in, int out_w, int out_h) {
  // Horizontal pass (all rows), then vertical pass, each rounded to 8 bits as PIL does.
  RgbImage tmp;
  tmp.width = out_w;
  tmp.height = in.height;
  tmp.pixels.resize(size_t(out_w) * in.height * 3);
  const AxisCoeffs hc = compute_coeffs(in.width, out_w);
  for (int y = 0; y < in.height; ++y) {
    for (int xx = 0; xx < out_w; ++xx) {
      const int xmin = hc.bounds[size_t(xx) * 2], xn = hc.bounds[size_t(xx) * 2 + 1];
      const int* k = &hc.kk[size_t(xx) * hc.ksize];
      for (int ch = 0; ch < 3; ++ch) {
        int64_t ss = int64_t(1) << (kPrecisionBits - 1);
        for (int x = 0; x < xn; ++x)
          ss += int64_t(in.pixels[(size_t(y) * in.width + xmin + x) * 3 + ch]) * k[x];
        tmp.pixels[(size_t(y) * out_w + xx) * 3 + ch] = clip8(ss);
      }
    }
  }
  RgbImage out;
  out.width = out_w;
  out.height = out_h;
  out.pixels.resize(size_t(out_w) * out_h * 3);
  const AxisCoeffs vc = compute_coeffs(in.height, out_h);
  for (int yy = 0; yy < out_h; ++yy) {
    const int ymin = vc.bounds[size_t(yy) * 2], yn = vc.bounds[size_t(yy) * 2 + 1];
    const int* k = &vc.kk[size_t(yy) * vc.ksize];
    for (int xx = 0; xx < out_w; ++xx) {
      for (int ch = 0; ch < 3; ++ch) {
        int64_t ss = int64_t(1) << (kPrecisionBits - 1);
        for (int y = 0; y < yn; ++y)
          ss += int64_t(tmp.pixels[(size_t(ymin + y) * out_w + xx) * 3 + ch]) * k[y];
        out.pixels[(size_t(yy) * out_w + xx) * 3 + ch] = clip8(ss);
      }
    }
  }
  return out;
}

}  // namespace

RgbImage load_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, "image");
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return decode_png(bytes, path);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return decode_jpeg(bytes, path);
  throw InputError("image '" + path + "' is neither PNG nor JPEG");
}

HostTensor preprocess_image(const RgbImage& image, int resolution) {
  if (image.width < 1 || image.height < 1)
    throw InputError("image is empty");
  if (resolution < 1) throw InputError("resolution must be positive");
  // torchvision Resize(size): shorter side -> size, longer side truncated proportionally.
  const int size = int(std::floor(resolution * 256.0 / 224.0));
  int out_w, out_h;
  if (image.width <= image.height) {
    out_w = size;
    out_h = int(int64_t(size) * image.height / image.width);
  } else {
    out_h = size;
    out_w = int(int64_t(size) * image.width / image.height);
  }
  const RgbImage resized =
      (out_w == image.width && out_h == image.height) ? image : resize_bilinear_pil(image, out_w, out_h);
  if (resized.width < resolution || resized.height < resolution)
    throw InputError("image too small to centre-crop " + std::to_string(resolution));
  // torchvision CenterCrop: offsets rounded half to even (Python round()).
  const int top = int(std::nearbyint((resized.height - resolution) / 2.0));
  const int left = int(std::nearbyint((resized.width - resolution) / 2.0));
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float stdev[3] = {0.229f, 0.224f, 0.225f};
  HostTensor t({1, 3, resolution, resolution}, Layout::kNCHW);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < resolution; ++y)
      for (int x = 0; x < resolution; ++x) {
        const uint8_t p = resized.pixels[(size_t(top + y) * resized.width + left + x) * 3 + c];
        t.at(0, c, y, x) = (float(p) / 255.0f - mean[c]) / stdev[c];
      }
  return t;
}

HostTensor load_image_tensor(const std::string& path, int resolution) {
  return preprocess_image(load_image(path), resolution);
}

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot open labels file '" + path + "'");
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  if (labels.empty()) throw InputError("labels file '" + path + "' is empty");
  return labels;
}

}  // namespace mbv2
