// Recurrent layers (SimpleRNN, LSTM, GRU, their CuDNN forms, Bidirectional): the layout rules
// between Keras files, the canonical "RNN" / "Bidirectional" nodes (model.h) and MXNet's fused
// RNN op (formats-mxnet.md 8.10). The importers and exporters call these through small hooks.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "weightbridge/model.h"

namespace wb {

// ---- Keras import ----
bool is_keras_rnn_class(const std::string& cls);

struct KerasRnnSource {
  std::string cls;             // Keras 2 class name (SimpleRNN, LSTM, GRU, CuDNNLSTM, CuDNNGRU, Bidirectional)
  nlohmann::json cfg;          // the layer's config
  bool keras1 = false;         // file without keras_version: Keras 1 arrays and config names
  std::string framework;       // keras, tf.keras, keras-mxnet, keras3 (Provenance::framework)
  std::string version;         // writer version, for the recurrent_activation default
  std::vector<Weight> stored;  // the layer's stored tensors in weight_names order (roles empty)
};

// Fills n.op, n.attrs and n.weights (canonical layout); appends notes for the rules applied.
void import_keras_rnn(const KerasRnnSource& src, Node& n, std::vector<std::string>& notes);

// ---- Keras export ----
bool is_rnn_op(const std::string& op);
// Keras 2 class name and config of a canonical RNN / Bidirectional node.
std::pair<std::string, nlohmann::json> keras_rnn_layer_config(const Node& n, const std::string& dtype);
// Keras 2 weight name of one weight ("lstm_1/kernel:0", "bidi/forward_lstm/kernel:0").
std::string keras_rnn_weight_name(const Node& n, const Weight& w);

// ---- shapes ----
// Output shape (without batch) of an RNN / Bidirectional node from its data input (T, C) or,
// for ConvLSTM, (T, spatial..., C) / (T, C, spatial...).
std::optional<Shape> rnn_output_shape(const Node& n, const Shape& in);
// Shape (without batch) of each state output (return_state), from the data input.
std::optional<Shape> rnn_state_shape(const Node& n, const Shape& in);
// Number of state tensors of one direction: 2 for LSTM / ConvLSTM, else 1.
int rnn_state_count(const Node& n);

// Gates per cell: 4 LSTM / ConvLSTM, 3 GRU, 1 SimpleRNN.
int gate_count(const std::string& cell);

// ---- MXNet fused RNN op ----
// Throws Unsupported when the node has no exact fused-RNN form (hard_sigmoid or other gate
// activations, GRU reset_after=False, merge modes other than concat, initial-state inputs...).
void check_mxnet_rnn_expressible(const Node& n);
// The same as a value: why the fused op cannot express the layer, or nullopt when it can (the
// exporter then writes exact per-step ops instead, mxnet_export.cpp).
std::optional<std::string> mxnet_rnn_gap(const Node& n);
std::string mxnet_rnn_mode(const Node& n);  // lstm, gru, rnn_tanh, rnn_relu
// The flat `parameters` vector (8.10 layout) of a node, in the weights' dtype.
Tensor pack_mxnet_rnn(const Node& n);
// The canonical weights from a flat vector; `mode`, state size H, input width I, directions D.
// For LSTM / plain RNN the two MXNet biases become one Keras bias: b_i2h when b_h2h is all zero
// (exact), else their float sum (noted).
void unpack_mxnet_rnn(const Tensor& flat, const std::string& mode, int64_t H, int64_t I, int D, Node& n,
                      std::vector<std::string>& notes);

// The flat parameters vector from its pieces (each flattened, concatenated in order): Gluon's
// per-layer l0_i2h_weight ... Parameters as `_rnn_param_concat` joins them. All share the dtype.
Tensor concat_flat(const std::string& name, const std::vector<Tensor>& parts);

// The --accept-sigmoid-for-hard-sigmoid approximation: recurrent_activation hard_sigmoid ->
// sigmoid on every recurrent node (outputs change; verify against the source shows by how much).
// Returns the names of the nodes changed.
std::vector<std::string> sigmoid_for_hard_sigmoid(Model& m);

// ---- messages ----
// A word as a POSIX shell reads it back: as it is when it holds only safe characters, else in
// single quotes.
std::string shell_quote(const std::string& w);
// " --input-shape ..." arguments that give every open dim of the model's inputs, for a recurrent
// layer whose export needs its sequence length: known dims as numbers, open ones named T (the
// first axis), D1, D2... (rnn_rules.cpp).
std::string input_shape_args(const Model& m, const Node& layer);

}  // namespace wb
