#include "bench/cli_options.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

#include "bench/benchmark_flags.h"
#include "bench/cli_values.h"
#include "common/util.h"

#if !defined(MBV2_SOURCE_DIR)
#define MBV2_SOURCE_DIR ""
#endif

namespace mbv2 {

using namespace cli;

namespace {

constexpr int kMaxBatch = 1 << 20;

// ---------------------------------------------------------------------------------------
// Our flags.

const std::set<std::string> kValueFlags = {
    "batches", "backends", "backend", "layers", "precision", "width", "resolution", "classes",
    "weights", "image", "input", "report", "l2", "modes", "logits-out"};
const std::set<std::string> kSwitchFlags = {"help", "list", "infer", "quick"};

void set_input(CliOptions& o, InputSource source, const std::string& flag) {
  if (o.input != InputSource::kDefault && o.input != source)
    throw InputError("--" + flag + " conflicts with another input flag (use one of --image, "
                     "--input, --random)");
  o.input = source;
}

/// The model flags as typed, for messages.
struct ModelText {
  std::string width = "1.0", resolution = "224", classes = "1000";
};

void apply_value_flag(CliOptions& o, ModelText& text, const std::string& name,
                      const std::string& value, const std::vector<std::string>& known_backends) {
  if (name == "batches") {
    o.batches.clear();
    for (const std::string& item : parse_list(name, value)) {
      const long long v = all_digits(item) && item.size() <= 9 ? std::strtoll(item.c_str(), nullptr, 10) : -1;
      if (v < 1 || v > kMaxBatch)
        bad(name, value, "batch size '" + item + "' must be an integer in [1, " +
                             std::to_string(kMaxBatch) + "]");
      if (std::find(o.batches.begin(), o.batches.end(), int(v)) == o.batches.end())
        o.batches.push_back(int(v));
    }
    o.batches_given = true;
  } else if (name == "backends" || name == "backend") {
    std::vector<std::string> items = parse_list(name, value);
    for (const std::string& item : items)
      if (std::find(known_backends.begin(), known_backends.end(), item) == known_backends.end()) {
        std::string list;
        for (const std::string& k : known_backends) list += (list.empty() ? "" : ", ") + k;
        bad(name, value, "unknown backend '" + item + "' (available: " +
                             (list.empty() ? "none" : list) + ")");
      }
    if (name == "backend") {
      if (items.size() != 1) bad(name, value, "names exactly one backend");
      o.infer_backend = items[0];
    }
    o.backends = items;
  } else if (name == "layers") {
    if (trim(value).empty()) bad(name, value, "needs indices, ranges or a name pattern");
    o.layers_filter = value;
  } else if (name == "precision") {
    try {
      o.precision = parse_precision(value);
    } catch (const InputError& e) {
      bad(name, value, e.what());
    }
  } else if (name == "width") {
    o.width = parse_real(name, value);
    text.width = value;
  } else if (name == "resolution") {
    if (!all_digits(value) || value.size() > 9) bad(name, value, "'" + value + "' is not a positive integer");
    o.resolution = int(std::strtol(value.c_str(), nullptr, 10));
    text.resolution = value;
  } else if (name == "classes") {
    if (!all_digits(value) || value.size() > 9) bad(name, value, "'" + value + "' is not a positive integer");
    o.classes = int(std::strtol(value.c_str(), nullptr, 10));
    text.classes = value;
  } else if (name == "weights") {
    if (value == "synthetic" || value.rfind("synthetic:", 0) == 0) {
      o.weights = WeightsSource::kSynthetic;
      o.weights_path.clear();
      o.weights_seed = value == "synthetic" ? kDefaultSyntheticWeightsSeed
                                            : parse_seed(name, value.substr(10));
    } else {
      require_readable_file(name, value);
      o.weights = WeightsSource::kFile;
      o.weights_path = value;
    }
  } else if (name == "image") {
    require_readable_file(name, value);
    set_input(o, InputSource::kImage, name);
    o.input_path = value;
  } else if (name == "input") {
    require_readable_file(name, value);
    set_input(o, InputSource::kNpy, name);
    o.input_path = value;
  } else if (name == "report") {
    require_output_folder(name, value);
    o.report_path = value;
  } else if (name == "logits-out") {
    require_output_folder(name, value);
    o.logits_out = value;
  } else if (name == "l2") {
    o.regimes = parse_choices(name, value, {"warm", "cold"});
  } else if (name == "modes") {
    o.modes = parse_choices(name, value, {"stream", "graph"});
  }
}

}  // namespace

CliOptions parse_cli(const std::vector<std::string>& args,
                     const std::vector<std::string>& known_backends) {
  CliOptions o;
  ModelText text;
  bool backends_given = false, backend_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (arg.rfind("--benchmark_", 0) == 0) {
      handle_benchmark_flag(arg, o);
      continue;
    }
    if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
      if (!arg.empty() && arg[0] == '-') throw InputError("unknown flag '" + arg + "' (see --help)");
      throw InputError("unexpected argument '" + arg + "' (flags look like --name=value; see --help)");
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? arg.substr(eq + 1) : "";

    if (kSwitchFlags.count(name)) {
      if (has_value) throw InputError("--" + name + " takes no value (got '" + arg + "')");
      if (name == "help") o.help = true;
      else if (name == "list") o.list = true;
      else if (name == "infer") o.infer = true;
      else if (name == "quick") o.quick = true;
    } else if (name == "random") {
      set_input(o, InputSource::kRandom, name);
      o.input_seed = has_value ? parse_seed(name, value) : kDefaultRandomInputSeed;
    } else if (kValueFlags.count(name)) {
      std::string v = value;
      if (!has_value) {
        // "--image photo.png" reads as "--image=photo.png".
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
          throw InputError("--" + name + " needs a value (--" + name + "=...)");
        v = args[++i];
      }
      if (name == "backends") backends_given = true;
      if (name == "backend") backend_given = true;
      apply_value_flag(o, text, name, v, known_backends);
    } else {
      throw InputError("unknown flag '" + (has_value ? arg.substr(0, eq) : arg) + "' (see --help)");
    }
  }
  if (o.help) return o;

  if (o.infer && o.list) throw InputError("--infer and --list cannot be combined");
  if (!o.infer && !o.logits_out.empty())
    throw InputError("--logits-out is only for inference mode (--infer)");
  if (o.infer && backends_given && !backend_given && o.backends.size() != 1)
    throw InputError("--infer runs one backend: use --backend=NAME");

  // The model: mobilenet_v2() owns the limits; name the flag that broke them.
  try {
    (void)mobilenet_v2(o.width, o.resolution, o.classes);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.find("width") != std::string::npos) bad("width", text.width, msg);
    if (msg.find("resolution") != std::string::npos) bad("resolution", text.resolution, msg);
    bad("classes", text.classes, msg);
  }

  // Real weights hold 1000 classes at width 1.0; anything else needs its own file.
  if (o.weights == WeightsSource::kDefault && !o.model_takes_default_weights())
    o.weights = WeightsSource::kSynthetic;

  if (!o.batches_given) o.batches = o.quick || o.infer ? std::vector<int>{1} : std::vector<int>{1, 256};
  if (o.backends.empty()) o.backends = known_backends;
  if (o.infer && o.infer_backend.empty()) {
    if (o.backends.empty()) throw InputError("no backend is built into this binary");
    o.infer_backend = o.backends.front();
  }

  const ModelSpec spec = spec_from_options(o);
  if (!o.layers_filter.empty()) {
    try {
      o.layer_indices = select_layers(spec, o.layers_filter);
    } catch (const InputError& e) {
      bad("layers", o.layers_filter, e.what());
    }
  } else {
    o.layer_indices = o.quick ? quick_layers(spec) : select_layers(spec, "");
  }
  return o;
}

ModelSpec spec_from_options(const CliOptions& o) {
  return mobilenet_v2(o.width, o.resolution, o.classes);
}

std::vector<int> select_layers(const ModelSpec& spec, const std::string& filter) {
  const int count = int(spec.layers.size());
  std::vector<int> out;
  if (trim(filter).empty()) {
    for (int i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  static const std::regex ranges(R"(\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*)");
  std::vector<bool> chosen(size_t(count), false);
  if (std::regex_match(filter, ranges)) {
    std::stringstream ss(filter);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item = trim(item);
      const size_t dash = item.find('-');
      const std::string a = trim(item.substr(0, dash));
      const std::string b = dash == std::string::npos ? a : trim(item.substr(dash + 1));
      if (a.size() > 9 || b.size() > 9)
        throw InputError("layer index in '" + item + "' is out of range (0-" + std::to_string(count - 1) + ")");
      const int lo = std::atoi(a.c_str()), hi = std::atoi(b.c_str());
      if (lo > hi) throw InputError("range '" + item + "' runs backwards");
      if (hi >= count)
        throw InputError("layer index " + std::to_string(hi) + " is out of range (0-" +
                         std::to_string(count - 1) + ")");
      for (int i = lo; i <= hi; ++i) chosen[size_t(i)] = true;
    }
  } else {
    std::regex re;
    try {
      re = std::regex(filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw InputError("'" + filter + "' is neither indices/ranges nor a valid regular expression (" +
                       e.what() + ")");
    }
    for (const Layer& l : spec.layers)
      if (std::regex_search(l.name, re)) chosen[size_t(l.index)] = true;
  }
  for (int i = 0; i < count; ++i)
    if (chosen[size_t(i)]) out.push_back(i);
  if (out.empty()) throw InputError("no layer matches '" + filter + "' (see --list)");
  return out;
}

std::vector<int> quick_layers(const ModelSpec& spec) {
  std::vector<int> out;
  std::set<LayerRole> seen;
  bool residual_seen = false;
  for (const Layer& l : spec.layers) {
    bool take = seen.insert(l.role).second;
    if (l.has_residual() && !residual_seen) {
      residual_seen = true;
      take = true;
    }
    if (take) out.push_back(l.index);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string default_report_path(const std::string& gpu_slug, Precision precision, bool quick) {
  const std::string file = "latest-" + gpu_slug + "-" + to_string(precision) +
                           (quick ? "-quick" : "") + ".json";
  const std::string dir = std::string(MBV2_SOURCE_DIR) + "/reports";
  struct stat st{};
  if (std::string(MBV2_SOURCE_DIR).empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return file;
  return dir + "/" + file;
}

}  // namespace mbv2
