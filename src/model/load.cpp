#include "weightbridge/load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/io.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {

const char* file_kind_name(FileKind k) {
  switch (k) {
    case FileKind::KerasH5: return "keras-h5";
    case FileKind::KerasArchive: return "keras-archive";
    case FileKind::KerasJson: return "keras-json";
    case FileKind::MxnetSymbol: return "mxnet-symbol";
    case FileKind::MxnetParams: return "mxnet-params";
    case FileKind::Unknown: return "unknown";
  }
  return "unknown";
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path, uint64_t{256} << 20);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::Malformed, fmt::format("not valid JSON (byte {}): {}", e.byte, e.what()), path);
  } catch (const json::exception& e) {  // out_of_range 406: a number literal beyond double
    fail(ErrorKind::Malformed, std::string("not valid JSON: ") + e.what(), path);
  }
}

}  // namespace

FileKind detect_file(const std::string& path) {
  auto src = open_file_source(path);
  uint8_t head[16] = {};
  const uint64_t n = std::min<uint64_t>(src->size(), sizeof head);
  if (n) src->read_at(0, head, n);
  if (keras::looks_like_hdf5(path)) return FileKind::KerasH5;
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && (head[2] == 3 || head[2] == 5)) {
    // A .keras archive has config.json; anything else zipped is an MXNet 2.0 npz.
    return ends_with(path, ".keras") ? FileKind::KerasArchive : FileKind::MxnetParams;
  }
  if (n >= 8 && le_u64(head) == 0x112) return FileKind::MxnetParams;
  if (n >= 6 && head[0] == 0x93 && std::string(reinterpret_cast<char*>(head + 1), 5) == "NUMPY") return FileKind::MxnetParams;
  size_t i = 0;
  while (i < n && std::isspace(head[i])) ++i;
  if (i < n && head[i] == '{') {
    const json j = parse_json_file(path);
    if (j.is_object() && j.contains("nodes")) return FileKind::MxnetSymbol;
    if (j.is_object() && (j.contains("class_name") || j.contains("modelTopology"))) return FileKind::KerasJson;
    fail(ErrorKind::Malformed, "JSON file is neither an MXNet symbol (no \"nodes\") nor a Keras model (no \"class_name\")", path);
  }
  return FileKind::Unknown;
}

std::string keras_framework(const keras::H5File& f) {
  if (f.layout == "keras3-weights") return "keras3";
  if (f.layout == "keras0") return "keras0";
  if (f.keras_version.empty()) return "keras1";
  if (f.backend == "mxnet" || std::count(f.keras_version.begin(), f.keras_version.end(), '.') == 3) return "keras-mxnet";
  if (f.keras_version.rfind("3.", 0) == 0) return "keras3";
  int major = 0, minor = 0;
  std::sscanf(f.keras_version.c_str(), "%d.%d", &major, &minor);
  if (f.keras_version.find("-tf") != std::string::npos || (major == 2 && minor >= 4)) return "tf.keras";
  return "keras2";
}

namespace {

json unwrap_keras_json(json j) {
  if (j.contains("modelTopology")) j = j["modelTopology"];
  if (j.contains("model_config")) j = j["model_config"];
  return j;
}

Model load_keras(const std::string& weights_path, FileKind kind, const std::optional<std::string>& arch,
                 const ImportOptions& opt) {
  json config;
  std::string k3version;
  keras::H5File file;
  if (kind == FileKind::KerasArchive) {
    keras::KerasArchive a = keras::read_keras_archive(weights_path);
    try {
      config = json::parse(a.config_json);
      k3version = json::parse(a.metadata_json).value("keras_version", "3");
    } catch (const json::exception& e) {
      fail(ErrorKind::Malformed, std::string("config.json/metadata.json: ") + e.what(), weights_path);
    }
    file = std::move(a.weights);
    file.path = weights_path;
  } else {
    file = keras::read_h5(weights_path);
    if (file.model_config) {
      try {
        config = json::parse(*file.model_config);
      } catch (const json::exception& e) {
        fail(ErrorKind::Malformed, std::string("model_config attribute is not valid JSON: ") + e.what(), weights_path);
      }
    }
  }
  if (arch) {
    const FileKind ak = detect_file(*arch);
    if (ak == FileKind::KerasJson) config = unwrap_keras_json(parse_json_file(*arch));
    else if (ak == FileKind::KerasH5) {
      auto af = keras::read_h5(*arch);
      if (!af.model_config) fail(ErrorKind::Usage, "--arch file has no model_config", *arch);
      config = json::parse(*af.model_config);
    } else if (ak == FileKind::KerasArchive) {
      auto a = keras::read_keras_archive(*arch);
      config = json::parse(a.config_json);
    } else fail(ErrorKind::Usage, "--arch for a Keras weights file must be a Keras model JSON, .h5 or .keras", *arch);
  }
  try {
    Model m = import_keras(file, config, k3version, opt);
    fill_stored(m);
    if (kind == FileKind::KerasArchive) m.prov.format = "keras-archive";
    validate_model(m);
    return m;
  } catch (Error& e) {
    // A fault in the architecture is reported against the file that holds it.
    const bool in_config = arch && e.message().rfind("model config:", 0) == 0;
    e.in_file(in_config ? *arch : weights_path);
    throw;
  }
}

}  // namespace

Shape given_input_shape(const ImportOptions& opt, const std::string& name, const Shape& declared) {
  const auto it = opt.input_shapes.find(name);
  const Shape* given = it != opt.input_shapes.end() ? &it->second : opt.input_shape ? &*opt.input_shape : nullptr;
  if (!given) return declared;
  const std::string flag = it != opt.input_shapes.end() ? "--input-shape " + name + "=" : std::string("--input-shape ");
  bool fits = declared.empty() || declared.size() == given->size();
  for (size_t i = 0; fits && i < declared.size(); ++i) fits = declared[i] < 0 || declared[i] == (*given)[i];
  if (!fits)
    fail(ErrorKind::Usage,
         fmt::format("{}{} contradicts the shape the file declares for input '{}', {} (-1: unknown); it may only fill "
                     "unknown dimensions{}",
                     flag, shape_str(*given), name, shape_str(declared),
                     it == opt.input_shapes.end() ? " (with several inputs, name the one it is for: --input-shape NAME=D1,D2,...)" : ""));
  return *given;
}

namespace {

// --input-shape names inputs that exist, and an unnamed one is for a model of one input.
void check_input_shape_options(const Model& m, const ImportOptions& opt) {
  std::vector<std::string> inputs;
  for (const auto& n : m.nodes)
    if (n.op == "Input") inputs.push_back(n.name);
  std::string list;
  for (const auto& i : inputs) list += (list.empty() ? "" : ", ") + i;
  if (opt.input_shape && inputs.size() > 1)
    fail(ErrorKind::Usage, fmt::format("--input-shape without NAME= is for a model of one input; this one has {} ({}): "
                                       "give --input-shape NAME=D1,D2,... for each input whose shape the file leaves open",
                                       inputs.size(), list));
  for (const auto& [name, shape] : opt.input_shapes)
    if (std::find(inputs.begin(), inputs.end(), name) == inputs.end())
      fail(ErrorKind::Usage, fmt::format("--input-shape {}=...: the model has no input '{}' (inputs: {})", name, name, list));
}

}  // namespace

Model load_model(const std::vector<std::string>& paths, const std::optional<std::string>& arch,
                 const ImportOptions& opt) {
  std::map<FileKind, std::string> given;
  for (const auto& p : paths) {
    FileKind k = detect_file(p);
    if (k == FileKind::Unknown) {
      if (ends_with(p, ".params") || ends_with(p, ".nd")) k = FileKind::MxnetParams;  // let its reader explain
      else if (ends_with(p, ".h5") || ends_with(p, ".hdf5") || ends_with(p, ".keras")) k = FileKind::KerasH5;
      else fail(ErrorKind::Malformed, "unrecognised file: not HDF5, zip, JSON or an MXNet parameter file", p);
    }
    if (given.count(k)) fail(ErrorKind::Usage, std::string("more than one ") + file_kind_name(k) + " file given", p);
    given[k] = p;
  }
  auto has = [&](FileKind k) { return given.count(k) > 0; };
  if (has(FileKind::KerasH5) || has(FileKind::KerasArchive)) {
    if (has(FileKind::KerasH5) && has(FileKind::KerasArchive))
      fail(ErrorKind::Usage, "give one Keras weights file (an .h5 and a .keras were given)");
    std::optional<std::string> karch = arch;
    if (has(FileKind::KerasJson)) {
      if (arch) fail(ErrorKind::Usage, "both a model JSON and --arch were given", given[FileKind::KerasJson]);
      karch = given[FileKind::KerasJson];
    }
    const bool h5 = has(FileKind::KerasH5);
    Model m = load_keras(given[h5 ? FileKind::KerasH5 : FileKind::KerasArchive], h5 ? FileKind::KerasH5 : FileKind::KerasArchive,
                         karch, opt);
    check_input_shape_options(m, opt);
    return m;
  }
  std::optional<std::string> sym;
  if (has(FileKind::MxnetSymbol)) sym = given[FileKind::MxnetSymbol];
  if (arch) {
    if (sym) fail(ErrorKind::Usage, "both a symbol JSON and --arch were given", *arch);
    if (detect_file(*arch) != FileKind::MxnetSymbol)
      fail(ErrorKind::Unsupported, "matching MXNet parameters to a Keras architecture is not supported yet; "
                                   "give the -symbol.json", *arch);
    sym = arch;
  }
  if (has(FileKind::MxnetParams)) {
    const std::string& params = given[FileKind::MxnetParams];
    const mxnet::ParamsFile pf = mxnet::read_params(params);  // a damaged file is reported first
    if (!sym)
      fail(ErrorKind::Usage, "an MXNet .params file alone has no architecture: give its -symbol.json too (or --arch)", params);
    const mxnet::Symbol s = mxnet::read_symbol(*sym);
    Model m = import_mxnet(s, pf, *sym, opt);
    check_input_shape_options(m, opt);
    fill_stored(m);
    try {
      validate_model(m);
    } catch (Error& e) {
      e.in_file(*sym);
      throw;
    }
    return m;
  }
  if (sym) fail(ErrorKind::Usage, "a symbol JSON holds no weights: give the .params file too", *sym);
  fail(ErrorKind::Usage, "no weights file among the inputs");
}

}  // namespace wb
