// The framework-neutral model that every conversion passes through.
//
// A Model is a graph of layer-level nodes with canonical attributes and weights in ONE canonical
// layout (the Keras 2 layout: Dense kernel (in, units); Conv kernel (k..., in/groups, filters);
// BatchNorm gamma, beta, moving_mean, moving_variance). Importers bring each framework's files
// into this form; exporters write it out in the target's layout, names and dtype policy.
//
// Canonical ops and their attributes:
//   Input       shape [dims without batch], dtype
//   Dense       units, use_bias, activation                 weights kernel, bias
//   Conv        rank, filters, kernel_size[], strides[], dilation[], groups, use_bias,
//               padding "valid"|"same"|"causal" (rank 1: dilation*(k-1) zeros before, none after),
//               data_format, activation                  weights kernel, bias
//   BatchNorm   axis (logical, may be negative), epsilon, center, scale, momentum
//                                                           weights gamma, beta, moving_mean, moving_variance
//   Embedding   input_dim, output_dim                       weights embeddings
//   Activation  activation (relu, sigmoid, tanh, softmax, linear, softplus, softsign, elu, selu,
//               hard_sigmoid, exponential, swish/silu, gelu), axis (softmax; counts the batch axis,
//               default -1), hard_sigmoid_slope (default 0.2, Keras 2; Keras 3 uses 1/6),
//               approximate (gelu: tanh form, default false)
//   LeakyReLU   alpha
//   Pool        rank, pool_type max|avg, pool_size[], strides[], padding valid|same, data_format
//   GlobalPool  rank, pool_type, data_format
//   ZeroPadding rank, padding [[before, after]...], data_format
//   Flatten     channels_last_first (bool): move the channel axis last before flattening
//   Reshape     target_shape [dims without batch]
//   Permute     dims [1-based axes without batch, as Keras]
//   Dropout     rate
//   Add, Concat (axis)
//   Scalar      fn mul|div|add|sub|rsub (x op scalar; rsub: scalar - x)|zero (zeros shaped like x), scalar
//   Attention   score_mode "dot", use_scale false, dropout (inference: none). inputs query, value
//               (, key; default value): softmax(query key^T) value over the last two axes, as
//               Keras' Attention computes it (a rank-2 tensor's batch axis is one of those two)
//   MatMul      transpose_a, transpose_b: the product over the last two axes, the leading ones
//               batched (MXNet dot of two data tensors, batch_dot)
//   SliceAxis   axis (counts the batch axis, >= 1), begin, end: x[..., begin:end, ...] (MXNet slice_axis)
//   Convolution family (ConvTranspose, DepthwiseConv, SeparableConv, PReLU, LayerNorm, GroupNorm,
//   Cropping, UpSampling, LocallyConnected): see src/model/conv_family.h
//   RNN         cell "simple"|"lstm"|"gru", units, activation (default tanh), recurrent_activation
//               (lstm/gru; sigmoid, hard_sigmoid with hard_sigmoid_slope, or any activation above),
//               use_bias, return_sequences, go_backwards, reset_after (gru)
//                                                           weights kernel (in, G*u), recurrent_kernel (u, G*u),
//               bias (G*u), or (2, 3u) for GRU reset_after (row 0 input, row 1 recurrent bias); G = 4 LSTM
//               (gates i, f, c, o), 3 GRU (z, r, h), 1 SimpleRNN: the Keras 2 layout. inputs: the
//               sequence (N, T, C), then optional initial states h0 (and c0 for LSTM), each (N, u).
//               With go_backwards the returned sequence is in processing (reversed) order, as Keras.
//   Bidirectional  the RNN attrs of the forward layer (the backward one runs with !go_backwards)
//               plus merge_mode concat|sum|mul|ave and inner_name (the wrapped layer's Keras name)
//                                                           weights forward_kernel, forward_recurrent_kernel,
//               forward_bias, backward_kernel, backward_recurrent_kernel, backward_bias (RNN layouts);
//               the backward output is re-reversed in time before merging. Rules: model/rnn_rules.h.
//   RNN / Bidirectional with return_state: extra outputs, the final states (h, and c for LSTM; a
//               Bidirectional gives forward h[, c] then backward h[, c]), each (u) or a feature map.
//               Initial states of a Bidirectional: inputs 1.. give forward then backward states.
//   cell "convlstm" (ConvLSTM1D/2D/3D): units = filters, plus rank, kernel_size[], strides[],
//               dilation[], padding valid|same, data_format. Input (T, spatial..., C) or (T, C,
//               spatial...); weights kernel (k..., C, 4f), recurrent_kernel (k..., f, 4f), bias (4f),
//               gates i, f, c, o. The recurrent convolution is stride 1, 'same', undilated.
//
// Tensor references: a node input or a model output names a producer node ("lstm_1", its output
// 0) or an extra output of it ("lstm_1:1", "lstm_1:2"); see parse_ref.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "weightbridge/tensor.h"

namespace wb {

struct Provenance {
  std::string format;       // keras-h5, keras3-weights, keras-archive, keras-json, mxnet-checkpoint, ...
  std::string framework;    // keras, tf.keras, keras-mxnet, keras3, mxnet, gluon
  std::string version;
  std::string backend;
  std::string data_format;  // channels_first, channels_last, or "" when unknown / not applicable
  std::vector<std::string> notes;  // writer quirks detected and rules applied
};

struct Weight {
  std::string role;    // kernel, bias, gamma, beta, moving_mean, moving_variance, embeddings, alpha
  Tensor tensor;       // canonical layout, stored dtype
  std::string source;  // name in the source file, for reports
  std::string transform;  // e.g. "transpose(2,3,1,0)", "" for none
  Tensor stored;          // the tensor exactly as the source file holds it
};


struct Node {
  std::string name;
  std::string op;
  nlohmann::json attrs = nlohmann::json::object();
  std::vector<std::string> inputs;  // names of producer nodes
  std::vector<Weight> weights;

  const Weight* weight(const std::string& role) const;
};

struct Model {
  Provenance prov;
  std::vector<Node> nodes;  // topological order
  std::vector<std::string> outputs;

  const Node* find(const std::string& name) const;
  Node* find(const std::string& name);
};

// A reference to one output of a node: "name" is output 0, "name:k" (k >= 1, digits) output k.
struct TensorRef {
  std::string node;
  int index = 0;
};
TensorRef parse_ref(const std::string& ref);
std::string make_ref(const std::string& node, int index);
// Number of outputs of a node: 1, or 1 + the states of a recurrent layer with return_state.
int output_count(const Node& n);

// Fills Weight::stored where an importer left it empty (the weight was taken as stored).
void fill_stored(Model& m);
// Graph sanity, run by load_model before anything is computed: unique node names, every input
// naming an earlier node (so no cycles and no dangling edges), outputs that exist, and attributes
// in range (kernel/stride/dilation/pool sizes >= 1, units/filters/dims >= 1, groups dividing
// filters and the input channels when known, padding >= 0, Permute a permutation, Reshape with
// at most one -1, Dropout rate in [0, 1]). Throws Malformed naming the layer.
void validate_model(const Model& m);
// The attribute checks of validate_model for one node; importers call it as soon as a layer's
// attributes are set, so that an absurd attribute is reported before weights are matched to it.
void validate_node(const Node& n);

// Output shape (without batch) of every node, when it can be derived from the Input shapes.
std::map<std::string, Shape> infer_shapes(const Model& m);
// The same for nodes[first...], given the shapes of the nodes before them (an importer that adds
// nodes one by one keeps its map up to date this way instead of recomputing it).
void infer_shapes_from(const Model& m, size_t first, std::map<std::string, Shape>& shapes);

// Keras 'same' padding for one spatial axis: (before, after).
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t k, int64_t stride, int64_t dilation);

}  // namespace wb
