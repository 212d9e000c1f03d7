// The op table (the one list of what the engine can run) and helpers shared by the ops.
#include <fmt/format.h>

#include "engine/ops.h"

namespace wb::engine {

namespace {

// Input: the value given by the caller; its shape must match the declared one (-1 = any).
Array op_input(const OpArgs& a) {
  const Array& x = a.one_input();
  const Shape want = a.node.attrs.value("shape", Shape{});
  bool ok = want.empty() || want.size() + 1 == x.shape.size();
  for (size_t i = 0; ok && i < want.size(); ++i) ok = want[i] < 0 || want[i] == x.shape[i + 1];
  if (!ok)
    bad_input(fmt::format("input of shape {} does not fit the declared shape (batch, {}", shape_str(x.shape),
                          shape_str(want).substr(1)));
  return x;
}

}  // namespace

const std::map<std::string, OpFn>& op_table() {
  static const std::map<std::string, OpFn> kTable = {
      {"Input", op_input},         {"Dense", op_dense},           {"Conv", op_conv},
      {"BatchNorm", op_batch_norm}, {"Embedding", op_embedding},   {"Activation", op_activation},
      {"LeakyReLU", op_leaky_relu}, {"Pool", op_pool},             {"GlobalPool", op_global_pool},
      {"ZeroPadding", op_zero_padding}, {"Flatten", op_flatten},   {"Reshape", op_reshape},
      {"Permute", op_permute},     {"Dropout", op_dropout},       {"Add", op_add},
      {"Multiply", op_multiply},   {"Subtract", op_subtract},     {"Average", op_average},
      {"Maximum", op_maximum},     {"Minimum", op_minimum},       {"Scalar", op_scalar},
      {"Concat", op_concat},       {"SliceAxis", op_slice_axis},
      {"MatMul", op_matmul},       {"Attention", op_attention},
      // convolution family (ops_convfam.cpp)
      {"ConvTranspose", op_conv_transpose}, {"DepthwiseConv", op_depthwise_conv},
      {"SeparableConv", op_separable_conv}, {"PReLU", op_prelu}, {"LayerNorm", op_layer_norm},
      {"GroupNorm", op_group_norm}, {"Cropping", op_cropping}, {"UpSampling", op_upsampling},
      {"LocallyConnected", op_locally_connected},
      // Recurrent layers (ops_rnn.cpp)
      {"RNN", op_rnn}, {"Bidirectional", op_bidirectional},
  };
  return kTable;
}

const Array* OpArgs::weight(const std::string& role) const {
  auto it = weights.find(role);
  return it == weights.end() ? nullptr : &it->second;
}

const Array& OpArgs::need_weight(const std::string& role, const Shape& shape) const {
  const Array* w = weight(role);
  if (!w) bad_input("weight '" + role + "' is missing");
  if (w->shape != shape)
    bad_input(fmt::format("weight '{}' has shape {}, expected {}", role, shape_str(w->shape), shape_str(shape)));
  return *w;
}

const Array& OpArgs::one_input() const {
  if (in.size() != 1) bad_input(fmt::format("takes one input, got {}", in.size()));
  return *in[0];
}

void bad_input(const std::string& what) { fail(ErrorKind::Malformed, what); }
void unsupported(const std::string& what) { fail(ErrorKind::Unsupported, what); }

size_t keras_axis(int64_t axis, size_t rank, const std::string& attr) {
  const int64_t r = static_cast<int64_t>(rank);
  const int64_t a = axis < 0 ? r + axis : axis;
  if (a < 1 || a >= r)
    bad_input(fmt::format("{} {} is not a non-batch axis of a rank-{} tensor (batch included)", attr, axis, rank));
  return static_cast<size_t>(a);
}

Array permute(const Array& x, const std::vector<size_t>& perm) {
  const size_t r = x.shape.size();
  Shape out_shape(r);
  std::vector<size_t> in_stride(r, 1), stride(r);  // stride: input stride of each output axis
  for (size_t i = r; i-- > 1;) in_stride[i - 1] = in_stride[i] * static_cast<size_t>(x.shape[i]);
  for (size_t i = 0; i < r; ++i) {
    out_shape[i] = x.shape[perm[i]];
    stride[i] = in_stride[perm[i]];
  }
  Array y{out_shape, std::vector<float>(x.data.size())};
  std::vector<size_t> idx(r, 0);
  size_t src = 0;
  for (size_t o = 0; o < y.data.size(); ++o) {
    y.data[o] = x.data[src];
    for (size_t d = r; d-- > 0;) {  // odometer over output axes
      src += stride[d];
      if (++idx[d] < static_cast<size_t>(out_shape[d])) break;
      src -= stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return y;
}

Array channels_first_to_last(const Array& x) {
  std::vector<size_t> perm = {0};
  for (size_t i = 2; i < x.shape.size(); ++i) perm.push_back(i);
  perm.push_back(1);
  return permute(x, perm);
}

Array channels_last_to_first(const Array& x) {
  const size_t r = x.shape.size();
  std::vector<size_t> perm = {0, r - 1};
  for (size_t i = 1; i + 1 < r; ++i) perm.push_back(i);
  return permute(x, perm);
}

}  // namespace wb::engine
