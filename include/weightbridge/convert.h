// Importers (files -> Model) and exporters (Model -> files).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "weightbridge/keras_h5.h"
#include "weightbridge/model.h"
#include "weightbridge/mxnet_params.h"
#include "weightbridge/mxnet_symbol.h"

namespace wb {

struct ImportOptions {
  // Keras 1 files do not say whether Theano (true convolution: kernels flipped) or TensorFlow /
  // dmlc-keras on MXNet (correlation) wrote them. nullopt = decide from evidence or refuse.
  std::optional<bool> kernel_flip;
  std::optional<Shape> input_shape;  // overrides the input shape (without batch)
  bool densify = false;              // read MXNet sparse (row_sparse, csr) parameters as dense
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

}  // namespace wb
