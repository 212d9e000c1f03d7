// Keras weight files in HDF5, every generation, and the Keras 3 `.keras` zip.
//
// Legacy layout (Keras 1, Keras 2, tf.keras, keras-mxnet, Keras 3 legacy .h5): a weights group W
// (the root, or /model_weights in a full-model save) with attribute `layer_names` (possibly split
// into layer_names0, layer_names1, ...), one group per layer with attribute `weight_names`, whose
// entries are dataset paths relative to the layer group. Attributes may be fixed- or
// variable-length strings, ASCII or UTF-8, scalar or 1-D; an empty list is an empty float64 array.
// keras_version/backend live on W (absent: Keras 1). Root: model_config, training_config.
// Keras 0.x: root `nb_layers`, groups layer_<k> with `nb_params`, datasets param_<p>.
//
// Keras 3 `.weights.h5`: no root attributes; `layers/<path>/vars/<i>` with numeric dataset names
// (sorted numerically), nested groups for sublayers (cell, forward_layer, ...).
// `.keras`: zip with metadata.json, config.json, model.weights.h5 (an HDF5 image).
// See formats-keras.md sections 2-5 and 8.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "weightbridge/tensor.h"

namespace wb::keras {

struct H5Weight {
  std::string name;   // the weight_names entry (legacy) or the path below the layer group (Keras 3)
  std::string path;   // absolute dataset path in the file
  Tensor tensor;      // dtype/shape as stored; bytes loaded on demand
};

struct H5Layer {
  std::string name;          // entry of layer_names (legacy) or group name under /layers (Keras 3)
  std::string display_name;  // Keras >= 3.6 `name` attribute on vars groups, else empty
  std::vector<H5Weight> weights;
};

struct H5File {
  std::string path;
  // "keras0", "keras-legacy-weights" (root is the weights group), "keras-legacy-model"
  // (has /model_weights), "keras3-weights"
  std::string layout;
  std::string keras_version;  // from the weights group (legacy); "" when absent
  std::string backend;        // "" when absent
  std::string root_keras_version;  // root attribute of full-model saves (Keras 1 has it only there)
  std::string root_backend;        // root attribute of full-model saves ("" when absent)
  std::optional<std::string> model_config;     // root attribute, JSON text
  std::optional<std::string> training_config;  // root attribute, JSON text
  std::vector<H5Layer> layers;                 // layer_names order (legacy); Keras 3: group order
  std::vector<H5Weight> optimizer_weights;     // listed, never converted
  std::vector<H5Weight> top_level_weights;     // top_level_model_weights group, if present
};

// Opens an HDF5 file from disk. Throws Malformed if it is not HDF5 or not a Keras layout.
H5File read_h5(const std::string& path);
// Same for an in-memory HDF5 image (the member of a .keras zip); `name` is used in messages.
H5File read_h5_image(const Bytes& image, const std::string& name);

struct KerasArchive {
  std::string path;
  std::string config_json;    // config.json
  std::string metadata_json;  // metadata.json
  H5File weights;             // model.weights.h5
};
KerasArchive read_keras_archive(const std::string& path);
// Same for an archive held in memory (`name` is used in messages); `zip` must outlive the call.
KerasArchive read_keras_archive_image(const Bytes& zip, const std::string& name);

// One layer group of a legacy-layout file to write.
struct H5WriteLayer {
  std::string name;
  std::vector<std::pair<std::string, Tensor>> weights;  // weight name (e.g. "conv2d_1/kernel:0"), data
};

// Writes a Keras 2 full-model file (root keras_version/backend/model_config, /model_weights with
// layer_names and one group per layer), atomically. Names are written as fixed-length NULLPAD
// ASCII arrays (chunked into name0, name1, ... above 64512 bytes as Keras does); keras_version
// and backend as fixed-length scalars; model_config as a variable-length string; empty
// weight_names as an empty float64 array. Tensors are loaded one at a time.
void write_keras2_h5(const std::string& path, const std::vector<H5WriteLayer>& layers,
                     const std::string& model_config_json, const std::string& keras_version = "2.2.4",
                     const std::string& backend = "tensorflow");

// Every dataset of any HDF5 file (not necessarily Keras), depth-first, names sorted numerically.
std::vector<H5Weight> read_h5_datasets(const std::string& path);

// True when the file starts with the HDF5 signature (at 0 or a power-of-two user-block offset).
bool looks_like_hdf5(const std::string& path);

}  // namespace wb::keras
