#include "bench/model_setup.h"

#include <climits>
#include <cstdlib>

#include "common/image.h"
#include "common/npy.h"
#include "common/util.h"

namespace mbv2 {

namespace {

std::string data_file(const std::string& name) { return std::string(MBV2_DATA_DIR) + "/" + name; }

/// Canonical path for "is this the same photo" (falls back to the text when it cannot).
std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

HostTensor random_image(int resolution, uint64_t seed) {
  // Roughly the range of ImageNet-normalised pixels.
  return random_tensor({1, 3, resolution, resolution}, Layout::kNCHW, seed, -2.0f, 2.0f);
}

}  // namespace

std::vector<std::string> sample_photos() { return {data_file("coffee.png"), data_file("chelsea.png")}; }

ModelSetup load_model_setup(const CliOptions& o) {
  ModelSetup s;
  s.spec = spec_from_options(o);

  switch (o.weights) {
    case WeightsSource::kDefault:
    case WeightsSource::kFile: {
      const std::string path =
          o.weights == WeightsSource::kDefault ? data_file("mobilenet_v2.safetensors") : o.weights_path;
      s.weights = load_weights(s.spec, path);
      s.weights_report.kind = "file";
      s.weights_report.path = path;
      break;
    }
    case WeightsSource::kSynthetic:
      s.weights = synthetic_weights(s.spec, o.weights_seed);
      s.weights_report.kind = "synthetic";
      s.weights_report.seed = o.weights_seed;
      break;
  }
  s.weights_report.hash = s.weights.hash;
  s.weights_report.bn_folded_at_load = s.weights.bn_folded_at_load;

  const int r = s.spec.resolution;
  s.input_seed = o.input_seed;
  s.input_report.seed = o.input_seed;
  switch (o.input) {
    case InputSource::kDefault:
    case InputSource::kImage: {
      const std::string path = o.input == InputSource::kDefault ? data_file("coffee.png") : o.input_path;
      s.input = load_image_tensor(path, r);
      s.input_photo = path;
      s.input_report.kind = "image";
      s.input_report.path = path;
      break;
    }
    case InputSource::kNpy:
      s.input = read_npy_tensor(o.input_path, {0, 3, r, r});
      s.input = to_layout(s.input, Layout::kNCHW);
      if (s.input.shape.n < 1) throw InputError(".npy file '" + o.input_path + "' holds no image");
      s.input_report.kind = "npy";
      s.input_report.path = o.input_path;
      break;
    case InputSource::kRandom:
      s.input = random_image(r, o.input_seed);
      s.random_input = true;
      s.input_report.kind = "random";
      break;
  }
  return s;
}

HostTensor build_batch_input(const ModelSetup& s, int batch) {
  const int r = s.spec.resolution;
  std::vector<HostTensor> parts;
  int have = 0;
  auto add = [&](HostTensor t) {
    const int take = std::min(t.shape.n, batch - have);
    if (take <= 0) return;
    if (take < t.shape.n) t = slice_batch(t, 0, take);
    have += take;
    parts.push_back(std::move(t));
  };
  if (s.random_input) {
    for (int i = 0; i < batch; ++i) add(random_image(r, s.input_seed + uint64_t(i)));
    return concat_batch(parts);
  }
  add(s.input);
  const std::string chosen = s.input_photo.empty() ? "" : canonical(s.input_photo);
  for (const std::string& photo : sample_photos()) {
    if (have >= batch) break;
    if (!chosen.empty() && canonical(photo) == chosen) continue;
    add(load_image_tensor(photo, r));
  }
  for (int i = have; i < batch; ++i) add(random_image(r, s.input_seed + uint64_t(i)));
  return concat_batch(parts);
}

std::vector<std::string> class_labels(int classes) {
  std::vector<std::string> labels;
  if (classes == 1000) {
    try {
      labels = read_labels(data_file("imagenet_labels.txt"));
    } catch (const InputError&) {
      labels.clear();
    }
  }
  if (int(labels.size()) != classes) {
    labels.clear();
    for (int i = 0; i < classes; ++i) labels.push_back("class " + std::to_string(i));
  }
  return labels;
}

}  // namespace mbv2
