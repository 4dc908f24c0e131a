// Photos to input tensors: PNG (libpng) and JPEG (libjpeg) with the standard
// ImageNet preprocessing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"

namespace mbv2 {

/// Decoded 8-bit RGB image, row-major, 3 bytes per pixel.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

/// Decodes a PNG or JPEG (chosen by content, not extension); grey, palette and alpha
/// are converted to RGB. Throws InputError for a missing, unreadable or corrupt file.
RgbImage load_image(const std::string& path);

/// torchvision's eval preprocessing: resize the shorter side to resolution * 256 / 224
/// (bilinear with antialiasing, as PIL does), centre-crop resolution x resolution
/// (top = round((h - res) / 2)), scale to [0, 1], normalise with ImageNet
/// mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). Returns [1, 3, res, res].
HostTensor preprocess_image(const RgbImage& image, int resolution = 224);

/// load_image + preprocess_image.
HostTensor load_image_tensor(const std::string& path, int resolution = 224);

/// The 1000 ImageNet class names (line i = class i); throws InputError if unreadable.
std::vector<std::string> read_labels(const std::string& path);

}  // namespace mbv2
