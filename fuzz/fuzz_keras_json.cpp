// Keras model JSON (model.to_json(), model_config, config.json) through the Keras importer.
// The harness makes a weights file that fits the config as far as it can guess (so the importer
// gets past weight binding), imports, validates, infers shapes and exports to MXNet; the
// exported symbol must be accepted by weightbridge's own symbol parser.
#include "fuzz_common.h"
#include "weightbridge/convert.h"
#include "weightbridge/load.h"

using nlohmann::json;

namespace {

int64_t small_int(const json& j, int64_t dflt) {
  if (j.is_number_integer()) {
    const auto v = j.get<int64_t>();
    if (v >= 1 && v <= 64) return v;
  }
  return dflt;
}

wb::Tensor zeros(const std::string& name, wb::Shape shape) {
  wb::Tensor t;
  t.name = name;
  t.dtype = wb::DType::F32;
  t.shape = std::move(shape);
  t.load = [n = t.nbytes()] { return wb::Bytes(static_cast<size_t>(n), 0); };
  return t;
}

void add(wb::keras::H5Layer& l, const std::string& role, wb::Shape shape) {
  const std::string name = l.name + "/" + role + ":0";
  l.weights.push_back(wb::keras::H5Weight{name, "/" + name, zeros(name, std::move(shape))});
}

// Weights shaped as a Keras 2 file would store them for this layer entry.
void guess_layer(const json& entry, bool channels_first_oihw, std::vector<wb::keras::H5Layer>& out) {
  if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string()) return;
  const json cfg = entry.contains("config") && entry["config"].is_object() ? entry["config"] : json::object();
  std::string name = entry.value("name", json()).is_string() ? entry["name"].get<std::string>() : "";
  if (name.empty() && cfg.contains("name") && cfg["name"].is_string()) name = cfg["name"];
  if (name.empty()) return;
  const std::string cls = entry["class_name"];
  wb::keras::H5Layer l{name, "", {}};
  const bool bias = !(cfg.value("use_bias", json(true)) == false || cfg.value("bias", json(true)) == false);
  if (cls == "Dense") {
    const int64_t u = small_int(cfg.contains("units") ? cfg["units"] : cfg.value("output_dim", json()), 4);
    add(l, "kernel", {4, u});
    if (bias) add(l, "bias", {u});
  } else if (cls.rfind("Conv", 0) == 0 && cls.size() >= 6) {
    const size_t rank = cls.find('1') != std::string::npos ? 1 : cls.find('3') != std::string::npos ? 3 : 2;
    const int64_t f = small_int(cfg.contains("filters") ? cfg["filters"] : cfg.value("nb_filter", json()), 4);
    wb::Shape k;
    const json ks = cfg.value("kernel_size", json());
    for (size_t i = 0; i < rank; ++i) k.push_back(small_int(ks.is_array() && i < ks.size() ? ks[i] : ks, 3));
    wb::Shape shape;
    if (channels_first_oihw) {
      shape = {f, 3};
      shape.insert(shape.end(), k.begin(), k.end());
    } else {
      shape = k;
      shape.push_back(3);
      shape.push_back(f);
    }
    add(l, "kernel", shape);
    if (bias) add(l, "bias", {f});
  } else if (cls == "BatchNormalization") {
    if (cfg.value("scale", json(true)) != false) add(l, "gamma", {8});
    if (cfg.value("center", json(true)) != false) add(l, "beta", {8});
    add(l, "moving_mean", {8});
    add(l, "moving_variance", {8});
  } else if (cls == "Embedding") {
    add(l, "embeddings", {small_int(cfg.value("input_dim", json()), 8), small_int(cfg.value("output_dim", json()), 4)});
  } else {
    return;
  }
  out.push_back(std::move(l));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json doc;
  try {
    doc = json::parse(data, data + size);
  } catch (const json::exception&) {
    return 0;  // the JSON parser itself is nlohmann's; weightbridge reports it as Malformed
  }
  if (!doc.is_object()) return 0;
  wb::keras::H5File file;
  file.path = "fuzz.h5";
  file.layout = "keras-legacy-weights";
  file.keras_version = doc.value("keras_version", json("2.2.4")).is_string() ? doc.value("keras_version", "2.2.4") : "";
  file.backend = doc.value("backend", json("tensorflow")).is_string() ? doc.value("backend", "tensorflow") : "";
  json config = doc;
  if (config.contains("modelTopology")) config = config["modelTopology"];
  if (config.is_object() && config.contains("model_config")) config = config["model_config"];
  const bool oihw = file.keras_version.empty() || file.backend == "mxnet";
  if (config.is_object() && config.contains("config")) {
    const json& c = config["config"];
    const json layers = c.is_array() ? c : c.is_object() ? c.value("layers", json::array()) : json::array();
    if (layers.is_array())
      for (const auto& e : layers) guess_layer(e, oihw, file.layers);
  }
  wb::ImportOptions opt;
  opt.kernel_flip = (size & 1) != 0;
  wb::Model m;
  if (!wbfuzz::guarded("import_keras", [&] { m = wb::import_keras(file, config, "", opt); })) return 0;
  if (!wbfuzz::guarded("validate_model", [&] { wb::validate_model(m); })) return 0;
  wbfuzz::guarded("infer_shapes", [&] { wb::infer_shapes(m); });
  wb::MxnetExport ex;
  if (!wbfuzz::guarded("export_mxnet", [&] { ex = wb::export_mxnet(m); })) return 0;
  std::string text;
  if (!wbfuzz::guarded("write_symbol", [&] { text = wb::mxnet::write_symbol(ex.symbol); })) return 0;
  if (!wbfuzz::guarded("parse exported symbol", [&] { wb::mxnet::parse_symbol(text, "exported-symbol.json"); }))
    wbfuzz::finding("export_mxnet produced a symbol that weightbridge's own parser rejects");
  wbfuzz::guarded("export_keras", [&] { wb::export_keras(m).model_config.dump(); });
  return 0;
}
