// Image decoding (libpng, libjpeg) and torchvision's preprocessing, against the
// tensors PIL + torchvision made of the same files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/file_io.h"
#include "common/image.h"
#include "common/npy.h"
#include "common/util.h"
#include "test_support.h"

namespace mbv2 {
namespace {

double max_abs_diff(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double m = 0;
  for (size_t i = 0; i < a.data.size(); ++i) m = std::max(m, std::fabs(double(a.data[i]) - b.data[i]));
  return m;
}

TEST(Image, PhotosMatchTorchvisionPreprocessingExactly) {
  // PIL's antialiased bilinear resize is reproduced bit for bit, so the only difference
  // left is none at all.
  for (const std::string photo : {"coffee", "chelsea"}) {
    SCOPED_TRACE(photo);
    const HostTensor mine = load_image_tensor(test::data_path(photo + ".png"), 224);
    const HostTensor torch = read_npy_tensor(test::data_path(photo + "_input.npy"), {1, 3, 224, 224});
    EXPECT_LE(max_abs_diff(mine, torch), 1e-6);
  }
}

TEST(Image, JpegAndGreyscalePngDecodeLikePil) {
  struct Case { const char* file; const char* stem; };
  for (const Case c : {Case{"testdata/coffee_small.jpg", "testdata/coffee_small_jpg"},
                       Case{"testdata/chelsea_gray_small.png", "testdata/chelsea_gray_small_png"}}) {
    SCOPED_TRACE(c.file);
    const RgbImage img = load_image(test::data_path(c.file));
    const NpyArray rgb = read_npy(test::data_path(std::string(c.stem) + "_rgb.npy"));
    ASSERT_EQ(rgb.shape, (std::vector<int64_t>{1, img.height, img.width, 3}));
    int worst = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i)
      worst = std::max(worst, std::abs(int(img.pixels[i]) - int(rgb.values[i])));
    EXPECT_LE(worst, 1) << "decoded pixels differ from PIL's";
    const HostTensor torch = read_npy_tensor(test::data_path(std::string(c.stem) + "_input.npy"));
    EXPECT_LE(max_abs_diff(preprocess_image(img, 224), torch), worst == 0 ? 1e-6 : 0.1);
  }
}

TEST(Image, OtherResolutionsCropTheCentre) {
  const HostTensor t = load_image_tensor(test::data_path("coffee.png"), 160);
  EXPECT_EQ(t.shape, (Shape4{1, 3, 160, 160}));
  const HostTensor big = load_image_tensor(test::data_path("coffee.png"), 244);
  EXPECT_EQ(big.shape, (Shape4{1, 3, 244, 244}));
}

TEST(Image, BadFilesGiveOneLineErrors) {
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      load_image(path);
      ADD_FAILURE() << "expected InputError for " << path;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  };
  expect_error("/nonexistent/photo.png", "cannot open image");
  expect_error(test::data_path("imagenet_labels.txt"), "neither PNG nor JPEG");
  const std::string tmp = test::temp_path("trunc.png");
  const auto png = read_file_bytes(test::data_path("coffee.png"), "image");
  write_file_bytes(tmp, png.data(), 2000);
  expect_error(tmp, "cannot decode PNG");
  const auto jpg = read_file_bytes(test::data_path("testdata/coffee_small.jpg"), "image");
  write_file_bytes(tmp, jpg.data(), 300);
  expect_error(tmp, "cannot decode JPEG");
  std::remove(tmp.c_str());
}

TEST(Labels, ImageNetLabels) {
  const auto labels = read_labels(test::data_path("imagenet_labels.txt"));
  ASSERT_EQ(labels.size(), 1000u);
  EXPECT_EQ(labels[967], "espresso");
  EXPECT_THROW(read_labels("/nonexistent/labels.txt"), InputError);
}

}  // namespace
}  // namespace mbv2
