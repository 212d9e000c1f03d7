// Importers (files -> Model) and exporters (Model -> files).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "weightbridge/keras_h5.h"
#include "weightbridge/model.h"
#include "weightbridge/mxnet_params.h"
#include "weightbridge/mxnet_symbol.h"

namespace wb {

// --map: explicit renames of source names (MXNet parameter keys without arg:/aux:, Keras layer
// groups) for cases the graph structure cannot decide. JSON:
//   {"exact": {"old_name": "new_name", ...}, "regex": [["^old_(.*)$", "new_$1"], ...]}
// Exact rules win over patterns; patterns are tried in order, the first full match applies.
class NameMap {
 public:
  static NameMap from_json_file(const std::string& path);
  // The new name, or the name itself when no rule applies. Records which rules matched.
  std::string apply(const std::string& name) const;
  // Rules that matched no name (to be reported).
  std::vector<std::string> unused_rules() const;
  bool empty() const { return exact_.empty() && patterns_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> exact_;
  std::vector<std::pair<std::string, std::string>> patterns_;  // (regex source, replacement)
  mutable std::vector<bool> exact_used_, pattern_used_;
};

// How strictly source tensors must fit the target (the meanings of Keras load_weights and Gluon
// load_parameters options).
struct LoadPolicy {
  bool allow_missing = false;  // fill a missing weight with its deterministic initial value, else refuse
  bool ignore_extra = false;   // source tensors with no place in the model are left out (reported)
  bool skip_mismatch = false;  // a layer whose stored weights do not fit is skipped (then treated as missing)
  bool cast_dtype = false;     // cast tensors to the dtype the architecture declares
};

// The shape of input `name` (without batch) after --input-shape: a given shape (by name, else the
// unnamed one) fills the dimensions the file leaves unknown (< 0); one that contradicts a declared
// dimension or rank is a Usage error. Without a given shape: the declared one.
struct ImportOptions;
std::vector<int64_t> given_input_shape(const ImportOptions& opt, const std::string& name, const std::vector<int64_t>& declared);

struct ImportOptions {
  // Keras 1 files do not say whether Theano (true convolution: kernels flipped) or TensorFlow /
  // dmlc-keras on MXNet (correlation) wrote them. nullopt = decide from evidence or refuse.
  std::optional<bool> kernel_flip;
  // A Keras 2 file without a backend attribute does not say whether its channels_first kernels
  // are in Keras order (k..., in, out) or keras-mxnet's MXNet order (out, in, k...). The shape
  // decides when it fits only one; otherwise true = MXNet order, false = Keras order, nullopt = refuse.
  std::optional<bool> mxnet_kernel_layout;
  std::optional<Shape> input_shape;  // overrides the input shape (without batch)
  std::map<std::string, Shape> input_shapes;  // overrides one input's shape, by input name (wins over input_shape)
  bool densify = false;              // read MXNet sparse (row_sparse, csr) parameters as dense
  // --flatten-order: the feature order a Flatten of a channels_first (or unknown-layout) tensor
  // emits when the file's metadata cannot tell (formats-keras.md 10.4): "channels_first" = (C, H, W),
  // "channels_last" = (H, W, C), "" = decide from the metadata or refuse.
  std::string flatten_order;
  LoadPolicy policy;
  std::shared_ptr<NameMap> map;      // --map, or null
};

// Keras: weights (any generation) + architecture JSON (model_config, config.json or --arch).
// `config` may be null for a weights-only file without --arch (then Unsupported for conversion).
Model import_keras(const keras::H5File& weights, const nlohmann::json& config,
                   const std::string& keras3_version, const ImportOptions& opt);

// MXNet: symbol graph + parameter file.
Model import_mxnet(const mxnet::Symbol& sym, const mxnet::ParamsFile& params,
                   const std::string& symbol_path, const ImportOptions& opt);

// Writes `<prefix>-symbol.json` and `<prefix>-0000.params`.
// Where an exported tensor comes from: canonical node, weight role, canonical -> target transform.
struct TensorOrigin {
  std::string node, role, transform;
};

struct MxnetExport {
  mxnet::Symbol symbol;
  std::vector<Tensor> params;          // named arg:/aux:
  std::vector<TensorOrigin> origins;   // parallel to params
};
MxnetExport export_mxnet(const Model& m);

struct KerasExport {
  nlohmann::json model_config;
  std::vector<keras::H5WriteLayer> layers;
};
KerasExport export_keras(const Model& m);
// Indices of m.nodes in the order a Keras functional model lists its layers (by depth from the
// outputs, deepest first; ties in the order a depth-first walk from the outputs reaches them).
// Keras' load_model and load_weights (not by name) pair weight groups with layers by position in
// this order.
std::vector<size_t> keras_layer_order(const Model& m);

// --data-format: rewrites a model to hold its image tensors in `target` ("channels_first" or
// "channels_last"), between import and export (formats-keras.md 10): every spatial layer's
// data_format, the Input shapes, BatchNorm / LayerNorm / Concat / softmax axes, PReLU alpha and
// shared_axes, Permute dims, and the weights whose index runs over a flattened feature map (Dense
// rows after a Flatten, and per-feature weights between them). Convolution kernels are layout
// independent in the canonical (Keras 2) layout and stay as they are. Every Flatten of an image
// tensor ends up flattening it as it is held (a channels_first tensor flattened in (H, W, C) order
// becomes a plain Flatten with its readers re-ordered); a layer's own softmax activation (Keras
// applies it over the last axis) is split into a Softmax layer over the channel axis. What cannot
// be rewritten exactly (a Dense or RNN on an image tensor, a Reshape that would reorder elements,
// flattened features as a model output, two layouts on one tensor) is refused naming the layer.
// Each rewritten weight's transform records what was done.
void rewrite_data_format(Model& m, const std::string& target);

// The data format each layer's output is held in, judged from the layers that produce or read it
// ("" when no layer with a data_format is joined to it through layout-keeping layers).
std::map<std::string, std::string> data_formats(const Model& m);

}  // namespace wb
