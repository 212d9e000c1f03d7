// The engine's op interface: one function per canonical op, listed once in op_table().
#pragma once
#include <map>
#include <string>
#include <vector>

#include "weightbridge/engine.h"
#include "weightbridge/error.h"

namespace wb::engine {

using Weights = std::map<std::string, Array>;  // role -> float32 weight in canonical layout

struct OpArgs {
  const Node& node;
  std::vector<const Array*> in;  // producer outputs, in node.inputs order
  const Weights& weights;
  std::vector<Array>* extra = nullptr;  // outputs 1, 2, ... of a multi-output op (RNN return_state)

  // The weight of a role, or nullptr when the node has none.
  const Array* weight(const std::string& role) const;
  // The weight of a role; Malformed when missing or when its shape differs from `shape`.
  const Array& need_weight(const std::string& role, const Shape& shape) const;
  const Array& one_input() const;  // the only input; Malformed when there are others
};

using OpFn = Array (*)(const OpArgs&);
const std::map<std::string, OpFn>& op_table();

// Errors name the node and op; the engine adds the node context.
[[noreturn]] void bad_input(const std::string& what);   // Malformed: shapes or values do not fit
[[noreturn]] void unsupported(const std::string& what); // Unsupported: an attribute value not implemented

// A Keras axis (counts the batch axis, negative from the end) as an index into a rank-r shape;
// Malformed unless 1 <= index < r (the batch axis cannot be chosen).
size_t keras_axis(int64_t axis, size_t rank, const std::string& attr);

// numpy transpose: out.shape[i] = x.shape[perm[i]].
Array permute(const Array& x, const std::vector<size_t>& perm);
// (N, C, spatial...) <-> (N, spatial..., C)
Array channels_first_to_last(const Array& x);
Array channels_last_to_first(const Array& x);

// Applies a named activation in place ("linear" leaves x as is). softmax uses attrs "axis".
void activate(const std::string& name, const nlohmann::json& attrs, Array& x);

// Ops. Elementwise and normalisation (ops_elementwise.cpp):
Array op_activation(const OpArgs& a);
Array op_leaky_relu(const OpArgs& a);
Array op_batch_norm(const OpArgs& a);
Array op_dropout(const OpArgs& a);
Array op_add(const OpArgs& a);
Array op_multiply(const OpArgs& a);
Array op_subtract(const OpArgs& a);
Array op_average(const OpArgs& a);
Array op_maximum(const OpArgs& a);
Array op_minimum(const OpArgs& a);
Array op_scalar(const OpArgs& a);
// Shape and data movement (ops_shape.cpp):
Array op_flatten(const OpArgs& a);
Array op_reshape(const OpArgs& a);
Array op_permute(const OpArgs& a);
Array op_concat(const OpArgs& a);
Array op_slice_axis(const OpArgs& a);
Array op_matmul(const OpArgs& a);
Array op_attention(const OpArgs& a);
Array op_zero_padding(const OpArgs& a);
Array op_embedding(const OpArgs& a);
// GEMM-based and windowed (ops_spatial.cpp):
Array op_dense(const OpArgs& a);
Array op_conv(const OpArgs& a);
Array op_pool(const OpArgs& a);
Array op_global_pool(const OpArgs& a);
// Recurrent (ops_rnn.cpp):
Array op_rnn(const OpArgs& a);
Array op_bidirectional(const OpArgs& a);

// Convolution family (ops_convfam.cpp, model/conv_family.h):
Array op_conv_transpose(const OpArgs& a);
Array op_depthwise_conv(const OpArgs& a);
Array op_separable_conv(const OpArgs& a);
Array op_prelu(const OpArgs& a);
Array op_layer_norm(const OpArgs& a);
Array op_group_norm(const OpArgs& a);
Array op_cropping(const OpArgs& a);
Array op_upsampling(const OpArgs& a);
Array op_locally_connected(const OpArgs& a);

}  // namespace wb::engine
