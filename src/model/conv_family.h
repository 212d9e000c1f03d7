// Convolution-family layers (transposed, depthwise, separable convolution), PReLU, layer and
// group normalisation, cropping and nearest upsampling: their canonical form and the hooks the
// importers, exporters and infer_shapes call. Kept apart from the core mappings so that each
// format file only holds a one-line hook.
//
// Canonical ops (weights in the Keras 2 layout):
//   ConvTranspose  rank, filters, kernel_size[], strides[], dilation[], padding valid|same,
//                  output_padding (null or [per axis]), use_bias, data_format, activation
//                                                  weights kernel (k..., filters, in), bias
//   DepthwiseConv  rank, kernel_size[], strides[], dilation[], padding, depth_multiplier, use_bias,
//                  data_format, activation         weights depthwise_kernel (k..., in, mult), bias (in*mult)
//                  output channel c*mult + m
//   SeparableConv  as DepthwiseConv plus filters   weights depthwise_kernel, pointwise_kernel
//                                                  (1..., in*mult, filters), bias (filters)
//   PReLU          shared_axes [1-based axes without batch]   weights alpha (input shape, shared axes 1)
//   LayerNorm      axis [Keras axes, counting the batch axis], epsilon, center, scale   weights gamma, beta
//   GroupNorm      groups, axis (channel axis, Keras), epsilon, center, scale   weights gamma, beta (C,)
//   Cropping       rank, cropping [[before, after]...], data_format
//   UpSampling     rank, size[], interpolation nearest, data_format
//   LocallyConnected  rank 1|2, filters, kernel_size[], strides[], padding valid, data_format, use_bias,
//                  activation, implementation 1|2|3 (tf.keras; Keras 1 and Keras 2 before 2.2.5 are 1).
//                  Unshared convolution: output position p = row-major over the output axes, tap t
//                  row-major over kernel_size, input position i = o*stride + t (valid padding only).
//                  Weights are kept exactly as Keras stores them (their layout depends on the
//                  implementation and on data_format); P output positions, A taps, C input channels,
//                  Q input positions, F filters:
//                    1: kernel (P, A*C, F), feature index t*C + c (channels_last) or c*A + t (channels_first)
//                    2: kernel channels_last (in..., C, out..., F), channels_first (C, in..., F, out...),
//                       dense and masked: entries outside the window are ignored
//                    3: kernel (P*A*C*F,): the values of the sparse (out_flat, in_flat) matrix at the
//                       connected pairs in sorted order; out_flat = p*F + f or f*P + p, in_flat = q*C + c
//                       or c*Q + q (channels_last / channels_first)
//                  bias (out..., F), added to the per-sample output as a flat buffer: with
//                  channels_first Keras reshapes (not transposes) it to (F, out...).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "weightbridge/convert.h"
#include "weightbridge/model.h"
#include "weightbridge/mxnet_symbol.h"

namespace wb {

// One spatial axis of a transposed convolution: output length and how many elements of the full
// scatter result ((in - 1) * stride + dilation * (k - 1) + 1 long) are dropped before the output.
// Keras (TensorFlow conv2d_transpose) semantics: 'same' drops floor(total / 2) before.
struct TransposeAxis {
  int64_t out = 0, crop_before = 0;
};
TransposeAxis conv_transpose_axis(int64_t in, int64_t k, int64_t stride, int64_t dilation, const std::string& padding,
                                  std::optional<int64_t> output_padding);

// infer_shapes: true when the op is one of this family (out set when the shape is derivable).
bool convfam_infer_shape(const Node& n, const std::vector<Shape>& ins, std::optional<Shape>& out);

// Keras import: true when the class belongs to this family. take_weights returns the layer's
// stored weights (role empty) in weight_names order.
bool convfam_keras_class(const std::string& cls);
void convfam_import_keras(const std::string& cls, const nlohmann::json& cfg, bool keras_mxnet, Node& n,
                          const std::function<std::vector<Weight>()>& take_weights);

// Keras export: class name and config for a family node (nullopt: not one of them).
std::optional<std::pair<std::string, nlohmann::json>> convfam_keras_config(const Node& n, nlohmann::json cfg);
// Keras' ZeroPadding1D, Cropping1D and UpSampling1D have no data_format: they act on axis 1 of
// (batch, steps, features). A channels_first 1-D node is refused, naming the option that fixes it.
void require_keras_steps_axis(const Node& n, const std::string& keras_class);

// LocallyConnected1D/2D (Keras 1, Keras 2, tf.keras). The weight shapes for an input shape (without
// batch, every dimension known); Malformed when the input is smaller than the kernel.
struct LocallyConnectedShapes {
  Shape out, kernel, bias;
};
LocallyConnectedShapes locally_connected_shapes(const Node& n, const Shape& in);
bool locally_connected_keras_class(const std::string& cls);
// `in`: the input shape when known (then the stored weights are checked against it).
void locally_connected_import_keras(const std::string& cls, const nlohmann::json& cfg, const std::optional<Shape>& in,
                                    bool keras_mxnet, Node& n, const std::function<std::vector<Weight>()>& take_weights);

// MXNet export. The exporter supplies these primitives over its symbol and value tracking.
struct MxExportApi {
  const std::map<std::string, Shape>& shapes;  // logical shapes without batch
  // producer's value in channels-first physical order (perm: logical -> physical of the result)
  std::function<int(const std::string& producer, size_t rank_with_batch, bool logical_cf, std::vector<int>& perm)>
      channels_first;
  std::function<int(const std::string& producer)> logical;  // producer's value in logical order
  std::function<const std::vector<int>&(const std::string& producer, int& node)> held;  // as held now
  std::function<int(const std::string& name, const Tensor& t, const std::string& role, const std::string& tr)> var;
  std::function<int(const std::string& op, const std::string& name, std::map<std::string, std::string> attrs,
                    std::vector<int> inputs)>
      op;
  std::function<void(const Node& n, int& node)> activation;  // the node's "activation" attr after node
  // Emits a canonical Conv node (inputs already emitted) and records its value; returns its perm.
  std::function<void(const Node& conv, const Shape& out_shape)> emit_conv;
  std::function<void(const std::string& name, int node, std::vector<int> perm)> set_value;
};
bool convfam_export_mxnet(const Node& n, MxExportApi& api);

// Keras padding MXNet's symmetric pad cannot express (mxnet_export.cpp): a Convolution/Pooling
// (node `idx`, valid convention) padded by `pad` whose only consumer is a slice of its spatial
// axes. Returns "same" or (rank 1, `causal_ok`) "causal" when the slice keeps exactly the Keras
// windows of an input of spatial size `in`, and sets `crop` to the slice's node index; "" otherwise.
std::string convfam_padding_through_crop(const mxnet::Symbol& sym, size_t idx, const Shape& in, const Shape& k,
                                         const Shape& s, const Shape& d, const Shape& pad, bool causal_ok, int& crop);

// MXNet import. Values are a canonical node plus the permutation it is held in (mxnet_import.cpp).
struct MxHeld {
  std::string layer;
  std::vector<int> perm;
};
struct MxImportApi {
  std::function<MxHeld(size_t i)> data;                                       // data input i
  std::function<std::string(size_t i)> logical_input;                          // input i in logical order
  std::function<Tensor(size_t i, const std::string& role, std::string& source)> param;
  std::function<bool(size_t i)> has_param;
  std::function<std::string()> name;                                           // fresh layer name
  std::function<Node&(Node)> add;
  std::function<Node*(const std::string&)> find;
  std::function<std::optional<Shape>(const std::string&)> shape;
  std::function<void(const std::string&)> note;
};
bool convfam_mxnet_op(const mxnet::SymNode& n);
MxHeld convfam_import_mxnet(const mxnet::SymNode& n, MxImportApi& api);
// After the walk: grouped Conv nodes with one input channel per group become DepthwiseConv, a
// depthwise + pointwise pair written by convfam_export_mxnet becomes one SeparableConv.
void convfam_fold_mxnet(Model& m);

}  // namespace wb
