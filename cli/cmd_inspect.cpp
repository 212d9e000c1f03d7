// weightbridge inspect FILE... [--json]
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "commands.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"
#include "core/io.h"

using nlohmann::json;

namespace wbcli {
namespace {

struct InspectOptions {
  std::vector<std::string> files;
  bool json_out = false;
};

json tensor_json(const std::string& name, const std::string& layer, const wb::Tensor& t) {
  return {{"name", name}, {"layer", layer}, {"shape", t.shape}, {"dtype", wb::dtype_name(t.dtype)},
          {"sha256", wb::sha256_hex(t.load())}};
}

// The first data_format / dim_ordering found in a config. The walk stops at 64 levels: no layer
// config nests that deep, and a file that does must not exhaust the stack.
std::string data_format_from_config(const json& j) {
  std::string found;
  std::function<void(const json&, int)> walk = [&](const json& x, int depth) {
    if (!found.empty() || depth > 64) return;
    if (x.is_object()) {
      for (const char* k : {"data_format", "dim_ordering"})
        if (x.contains(k) && x[k].is_string()) {
          std::string v = x[k];
          if (v == "th") v = "channels_first";
          if (v == "tf") v = "channels_last";
          if (v == "channels_first" || v == "channels_last") { found = v; return; }
        }
    }
    if (x.is_structured())
      for (const auto& v : x) walk(v, depth + 1);
  };
  walk(j, 0);
  return found;
}

// The string under key k of an object, or "" (any other type, a missing key, not an object).
std::string str_at(const json& j, const char* k) {
  if (!j.is_object()) return {};
  const auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Layer names and classes of a model config; entries of another shape are skipped (inspect lists
// what a file holds; the importers report a malformed config).
json config_layers(const json& cfg) {
  json out = json::array();
  if (!cfg.is_object() || !cfg.contains("config")) return out;
  const json& c = cfg["config"];
  const json* layers = c.is_array() ? &c : c.is_object() && c.contains("layers") ? &c["layers"] : nullptr;
  if (!layers || !layers->is_array()) return out;
  for (const auto& l : *layers) {
    if (!l.is_object()) continue;
    std::string name = l.contains("config") ? str_at(l["config"], "name") : std::string();
    if (name.empty()) name = str_at(l, "name");
    out.push_back({{"name", name}, {"class_name", str_at(l, "class_name")}});
  }
  return out;
}

json inspect_keras(const std::string& path, wb::FileKind kind) {
  json f = {{"path", path}};
  wb::keras::H5File h;
  json cfg;
  std::string version;
  if (kind == wb::FileKind::KerasArchive) {
    auto a = wb::keras::read_keras_archive(path);
    h = std::move(a.weights);
    try {
      cfg = json::parse(a.config_json);
      version = str_at(json::parse(a.metadata_json), "keras_version");
    } catch (const json::exception& e) {
      wb::fail(wb::ErrorKind::Malformed, std::string("config.json/metadata.json: ") + e.what(), path);
    }
    f["format"] = "keras-archive";
  } else {
    h = wb::keras::read_h5(path);
    if (h.model_config) {
      try { cfg = json::parse(*h.model_config); } catch (const json::exception&) {}
    }
    f["format"] = h.layout == "keras3-weights" ? "keras3-weights-h5" : "keras-h5";
    version = h.keras_version.empty() ? h.root_keras_version : h.keras_version;
  }
  f["layout"] = h.layout;
  f["writer"] = {{"framework", kind == wb::FileKind::KerasArchive ? "keras3" : wb::keras_framework(h)},
                 {"version", version}, {"backend", h.backend}};
  f["data_format"] = data_format_from_config(cfg);
  f["has_model_config"] = !cfg.is_null();
  json layers = config_layers(cfg);
  json tensors = json::array();
  json file_layers = json::array();
  for (const auto& l : h.layers) {
    file_layers.push_back({{"name", l.name}, {"weights", l.weights.size()}});
    for (const auto& w : l.weights) tensors.push_back(tensor_json(w.name, l.name, w.tensor));
  }
  f["layers"] = layers.empty() ? file_layers : layers;
  f["tensors"] = tensors;
  json opt = json::array();
  for (const auto& w : h.optimizer_weights) opt.push_back(tensor_json(w.name, "optimizer", w.tensor));
  f["optimizer_tensors"] = opt;
  return f;
}

// The layer a parameter name belongs to: the name without its role suffix (conv0_weight,
// bn_moving_mean, dense_1/kernel1, body.3.running_var).
std::string layer_of_param(const std::string& name) {
  static const char* const kRoles[] = {"_moving_mean", "_moving_var", "_running_mean", "_running_var", "_weight",
                                       "_bias", "_gamma", "_beta", "_alpha", "_parameters"};
  for (const char* r : kRoles) {
    const std::string suffix = r;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return name.substr(0, name.size() - suffix.size());
  }
  const auto cut = name.find_last_of("/.");
  if (cut != std::string::npos) return name.substr(0, cut);
  const auto underscore = name.rfind('_');
  return underscore == std::string::npos ? name : name.substr(0, underscore);
}

std::string naming_of(const wb::mxnet::ParamsFile& p) {
  bool prefixed = false, slash = false, dotted = false;
  for (const auto& r : p.records) {
    prefixed = prefixed || r.name.rfind("arg:", 0) == 0 || r.name.rfind("aux:", 0) == 0;
    slash = slash || r.name.find('/') != std::string::npos;
    dotted = dotted || r.name.find('.') != std::string::npos;
  }
  if (!p.has_names) return "unnamed";
  if (slash) return "keras-mxnet";
  if (prefixed) return "module";
  if (dotted) return "gluon-structured";
  return "gluon-prefixed";
}

json inspect_params(const std::string& path) {
  auto p = wb::mxnet::read_params(path);
  json f = {{"path", path}, {"format", "mxnet-params"}, {"container", p.container}};
  std::set<int> versions;
  for (const auto& r : p.records) versions.insert(r.version);
  const std::string naming = naming_of(p);
  f["writer"] = {{"framework", naming == "keras-mxnet" ? "keras-mxnet" : naming.rfind("gluon", 0) == 0 ? "gluon" : "mxnet"},
                 {"version", ""}, {"backend", ""}};
  f["record_version"] = json(std::vector<int>(versions.begin(), versions.end()));
  f["naming"] = naming;
  f["data_format"] = "channels_first";
  json tensors = json::array(), layers = json::array();
  std::set<std::string> seen;
  for (size_t i = 0; i < p.records.size(); ++i) {
    const auto& r = p.records[i];
    std::string name = r.name.empty() ? std::to_string(i) : r.name;
    std::string layer = name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0 ? name.substr(4) : name;
    layer = layer_of_param(layer);
    if (seen.insert(layer).second) layers.push_back({{"name", layer}});
    if (r.none) {
      tensors.push_back({{"name", name}, {"layer", layer}, {"shape", json::array()}, {"dtype", "none"}, {"sha256", ""}});
      continue;
    }
    json t = {{"name", name}, {"layer", layer}, {"shape", r.shape}, {"dtype", wb::dtype_name(r.dtype)},
              {"sha256", wb::sha256_hex(r.load_raw())}, {"record_version", r.version}};
    if (r.stype != 0) t["storage"] = r.stype == 1 ? "row_sparse" : "csr";
    tensors.push_back(t);
  }
  f["layers"] = layers;
  f["tensors"] = tensors;
  return f;
}

json inspect_symbol(const std::string& path) {
  auto s = wb::mxnet::read_symbol(path);
  const int v = s.mxnet_version;
  json f = {{"path", path}, {"format", "mxnet-symbol"}, {"dialect", s.dialect}};
  f["writer"] = {{"framework", "mxnet"}, {"version", v ? fmt::format("{}.{}.{}", v / 10000, v / 100 % 100, v % 100) : "<=0.8"},
                 {"backend", ""}};
  std::string layout = "channels_first";
  json layers = json::array(), vars = json::array();
  for (const auto& n : s.nodes) {
    if (n.op == "null") {
      json var = {{"name", n.name}};
      if (auto it = n.attrs.find("__shape__"); it != n.attrs.end()) var["shape"] = it->second;
      vars.push_back(var);
    } else {
      layers.push_back({{"name", n.name}, {"op", n.op}});
      if (auto it = n.attrs.find("layout"); it != n.attrs.end() && it->second.find("C") + 1 == it->second.size())
        layout = "channels_last";
    }
  }
  f["data_format"] = layout;
  f["layers"] = layers;
  f["variables"] = vars;
  f["tensors"] = json::array();
  return f;
}

json inspect_keras_json(const std::string& path) {
  try {
    json j = json::parse(wb::read_text_file(path));
    json f = {{"path", path}, {"format", "keras-json"}};
    f["writer"] = {{"framework", "keras"}, {"version", str_at(j, "keras_version")}, {"backend", str_at(j, "backend")}};
    f["data_format"] = data_format_from_config(j);
    f["layers"] = config_layers(j);
    f["tensors"] = json::array();
    return f;
  } catch (const json::exception& e) {
    wb::fail(wb::ErrorKind::Malformed, std::string("model JSON: unexpected structure: ") + e.what(), path);
  }
}

// An HDF5 file that is not a Keras model (e.g. saved inputs and predictions): its datasets.
json inspect_hdf5(const std::string& path) {
  json f = {{"path", path}, {"format", "hdf5"}, {"data_format", ""}, {"layers", json::array()}};
  f["writer"] = {{"framework", ""}, {"version", ""}, {"backend", ""}};
  json tensors = json::array();
  for (const auto& w : wb::keras::read_h5_datasets(path)) {
    const auto cut = w.name.rfind('/');
    tensors.push_back(tensor_json(w.name, cut == std::string::npos ? "" : w.name.substr(0, cut), w.tensor));
  }
  f["tensors"] = tensors;
  return f;
}

// A JSON document that is neither a symbol nor a Keras model (an input, a shapes list).
json inspect_json_data(const std::string& path) {
  json j;
  try {
    j = json::parse(wb::read_text_file(path, uint64_t{256} << 20));
  } catch (const json::parse_error& e) {
    wb::fail(wb::ErrorKind::Malformed, fmt::format("not valid JSON (byte {})", e.byte), path);
  } catch (const json::exception& e) {
    wb::fail(wb::ErrorKind::Malformed, std::string("not valid JSON: ") + e.what(), path);
  }
  json f = {{"path", path}, {"format", "json-data"}, {"data_format", ""}, {"layers", json::array()},
            {"tensors", json::array()}};
  f["writer"] = {{"framework", ""}, {"version", ""}, {"backend", ""}};
  return f;
}

bool starts_with_json_array(const std::string& path) {
  auto src = wb::open_file_source(path);
  std::string head(static_cast<size_t>(std::min<uint64_t>(src->size(), 64)), ' ');
  if (!head.empty()) src->read_at(0, head.data(), head.size());
  const auto i = head.find_first_not_of(" \t\r\n");
  return i != std::string::npos && head[i] == '[';
}

// The model's inputs (name, shape without batch, null for an unknown dim), when the file holds an
// architecture that loads on its own: what a user needs to build an input for `run` or `verify`.
// A file that does not load alone (weights only, a Keras 1 file that needs --kernel-flip...) gets
// none; its tensors are still listed.
json model_inputs(const std::string& path) {
  json inputs = json::array();
  try {
    const wb::Model m = wb::load_model({path}, std::nullopt, {});
    for (const auto& n : m.nodes) {
      if (n.op != "Input") continue;
      json shape = json::array();
      if (n.attrs.contains("shape"))
        for (const auto& d : n.attrs.at("shape"))
          shape.push_back(d.is_number_integer() && d.get<int64_t>() > 0 ? d : json());
      const auto dt = n.attrs.find("dtype");
      inputs.push_back({{"name", n.name}, {"shape", shape},
                        {"dtype", dt != n.attrs.end() && dt->is_string() ? dt->get<std::string>() : "float32"}});
    }
  } catch (const std::exception&) {  // the listing is extra: whatever stops the load, the tensors still stand
    return json::array();
  }
  return inputs;
}

json inspect_one(const std::string& path) {
  const wb::FileKind k = wb::detect_file(path);
  switch (k) {
    case wb::FileKind::KerasH5:
    case wb::FileKind::KerasArchive: {
      json f;
      try {
        f = inspect_keras(path, k);
      } catch (const wb::Error& e) {
        if (k == wb::FileKind::KerasArchive || e.message().find("not a Keras weights file") == std::string::npos) throw;
        return inspect_hdf5(path);
      }
      f["inputs"] = model_inputs(path);
      return f;
    }
    case wb::FileKind::MxnetParams: return inspect_params(path);
    case wb::FileKind::MxnetSymbol: return inspect_symbol(path);
    case wb::FileKind::KerasJson: return inspect_keras_json(path);
    case wb::FileKind::Unknown: break;
  }
  if (starts_with_json_array(path)) return inspect_json_data(path);
  // Unknown content: a file named like a model gets its reader's own explanation.
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".h5" || ext == ".hdf5" || ext == ".keras") return inspect_keras(path, wb::FileKind::KerasH5);
  if (ext == ".params" || ext == ".nd" || ext == ".npz" || ext == ".npy") return inspect_params(path);
  wb::fail(wb::ErrorKind::Unsupported,
           "unrecognised file format: not HDF5, a zip, a symbol or model JSON, an MXNet NDArray list or .npy", path);
}

std::string short_hash(const json& t) {
  const std::string h = t.value("sha256", "");
  return h.substr(0, 12);
}

void print_human(const json& f) {
  const json& w = f["writer"];
  std::cout << f["path"].get<std::string>() << "\n";
  std::cout << fmt::format("  format:      {}\n", f["format"].get<std::string>());
  const std::string version = w.value("version", "");
  std::cout << fmt::format("  writer:      {}{}{}\n", w.value("framework", ""), version.empty() ? "" : " " + version,
                           w.value("backend", "").empty() ? "" : " (backend " + w.value("backend", "") + ")");
  if (f.contains("record_version"))
    std::cout << fmt::format("  records:     NDArray version {}, naming {}\n", f["record_version"].dump(), f.value("naming", ""));
  if (f.contains("dialect")) std::cout << fmt::format("  dialect:     {}\n", f["dialect"].get<std::string>());
  if (!f.value("data_format", "").empty()) std::cout << fmt::format("  data_format: {}\n", f["data_format"].get<std::string>());
  std::cout << fmt::format("  layers:      {}\n", f["layers"].size());
  for (const auto& in : f.value("inputs", json::array())) {
    std::string dims = "(batch";
    for (const auto& d : in["shape"]) dims += ", " + (d.is_null() ? std::string("?") : d.dump());
    std::cout << fmt::format("  input:       {} {} {}\n", in["name"].get<std::string>(), dims + ")", in["dtype"].get<std::string>());
  }
  const json& ts = f["tensors"];
  if (!ts.empty()) {
    size_t wn = 4, wl = 5, ws = 5;
    for (const auto& t : ts) {
      wn = std::max(wn, t["name"].get<std::string>().size());
      wl = std::max(wl, t["layer"].get<std::string>().size());
      ws = std::max(ws, t["shape"].dump().size());
    }
    std::cout << fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<8}  {}\n", "name", wn, "layer", wl, "shape", ws, "dtype", "sha256");
    for (const auto& t : ts)
      std::cout << fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<8}  {}\n", t["name"].get<std::string>(), wn,
                               t["layer"].get<std::string>(), wl, t["shape"].dump(), ws, t["dtype"].get<std::string>(),
                               short_hash(t));
  }
  if (f.contains("optimizer_tensors") && !f["optimizer_tensors"].empty())
    std::cout << fmt::format("  optimizer:   {} tensors (not converted)\n", f["optimizer_tensors"].size());
}

}  // namespace

void setup_inspect(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show format, writer, layers and every tensor of model files");
  cmd->add_option("files", opt->files, "Model files (.h5, .keras, -symbol.json, .params, model JSON)")->required();
  cmd->add_flag("--json", opt->json_out, "Print one JSON document");
  cmd->callback([opt] {
    json files = json::array();
    for (const auto& p : opt->files) files.push_back(inspect_one(p));
    if (opt->json_out) {
      std::cout << json{{"files", files}}.dump(2) << "\n";
    } else {
      for (const auto& f : files) print_human(f);
    }
  });
}

}  // namespace wbcli
