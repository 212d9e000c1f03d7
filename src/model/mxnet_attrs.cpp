#include "model/mxnet_attrs.h"

#include <algorithm>
#include <functional>
#include <map>
#include <vector>

#include "weightbridge/error.h"

namespace wb {
namespace {

enum class Use {
  Read,     // the importer reads it and checks its value
  Inert,    // no effect on an inference forward pass
  Neutral,  // must hold a value that leaves the computation as the importer builds it
};

struct Param {
  const char* name;
  Use use;
  std::function<bool(const std::string&)> neutral = {};  // Neutral: is this value neutral?
  const char* why = "";                                  // Neutral: what another value would mean
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_one_of(const std::string& v, std::initializer_list<const char*> ok) {
  const std::string l = lower(v);
  return std::any_of(ok.begin(), ok.end(), [&](const char* o) { return l == lower(o); });
}

// "(None, 1, 1)", "[1, None]", "1", "()": every entry None or 1 (slice's step).
bool unit_steps(const std::string& v) {
  for (const auto& step : mxnet::parse_optional_tuple(v))
    if (step && *step != 1) return false;
  return true;
}

Param read(const char* name) { return {name, Use::Read}; }
Param inert(const char* name) { return {name, Use::Inert}; }

// MXNet's operator parameters (1.x and 2.0), formats-mxnet.md 8 and 9.
const std::map<std::string, std::vector<Param>>& table() {
  static const std::map<std::string, std::vector<Param>> t = [] {
    std::map<std::string, std::vector<Param>> m;
    auto add = [&m](std::initializer_list<const char*> ops, const std::vector<Param>& ps) {
      for (const char* op : ops) m[op] = ps;
    };
    const std::vector<Param> conv = {read("kernel"),      read("stride"),     read("dilate"),    read("pad"),
                                     read("num_filter"),  read("num_group"),  read("no_bias"),   read("layout"),
                                     inert("workspace"), inert("cudnn_tune"), inert("cudnn_off")};
    add({"Convolution"}, conv);
    std::vector<Param> deconv = conv;
    deconv.push_back(read("adj"));
    deconv.push_back(read("target_shape"));
    add({"Deconvolution"}, deconv);
    add({"FullyConnected"}, {read("num_hidden"), read("no_bias"), read("flatten")});
    add({"BatchNorm"}, {read("eps"), read("fix_gamma"), read("axis"), inert("momentum"), inert("use_global_stats"),
                        inert("output_mean_var"), inert("cudnn_off"), inert("min_calib_range"), inert("max_calib_range")});
    add({"Pooling"},
        {read("kernel"), read("pool_type"), read("global_pool"), read("pooling_convention"), read("stride"), read("pad"),
         read("count_include_pad"), inert("cudnn_off"), inert("p_value"),
         {"output_size", Use::Neutral, [](const std::string& v) { return is_one_of(v, {"None", "()"}); },
          "adaptive pooling (MXNet 2.0)"},
         {"layout", Use::Neutral, [](const std::string& v) { return is_one_of(v, {"None", "NCW", "NCHW", "NCDHW"}); },
          "a channel-last Pooling layout"}});
    add({"Activation"}, {read("act_type")});
    add({"LeakyReLU"}, {read("act_type"), read("slope"), inert("lower_bound"), inert("upper_bound")});
    add({"hard_sigmoid"}, {read("alpha"), read("beta")});
    add({"Dropout"}, {read("p"), inert("axes"), inert("cudnn_off"),
                      {"mode", Use::Neutral, [](const std::string& v) { return is_one_of(v, {"training"}); },
                       "dropout also at inference: a random output"}});
    add({"Pad", "pad"}, {read("mode"), read("pad_width"), read("constant_value")});
    add({"transpose"}, {read("axes")});
    add({"dot", "batch_dot"}, {read("transpose_a"), read("transpose_b"), inert("forward_stype")});
    add({"ElementWiseSum", "add_n"}, {inert("num_args")});
    add({"_mul_scalar", "_MulScalar", "_div_scalar", "_DivScalar", "_plus_scalar", "_PlusScalar", "_minus_scalar",
         "_MinusScalar", "_rminus_scalar", "_RMinusScalar"},
        {read("scalar"), inert("is_int")});
    add({"slice_axis"}, {read("axis"), read("begin"), read("end")});
    add({"slice"}, {read("begin"), read("end"), {"step", Use::Neutral, unit_steps, "a strided or reversed slice"}});
    add({"Concat", "concat"}, {read("dim"), inert("num_args")});
    add({"softmax"}, {read("axis"), read("temperature"), read("use_length"), inert("dtype")});
    add({"SoftmaxActivation"}, {read("mode")});
    add({"SoftmaxOutput", "Softmax"}, {read("multi_output"), read("preserve_shape"), inert("grad_scale"), inert("ignore_label"),
                                       inert("use_ignore"), inert("normalization"), inert("out_grad"), inert("smooth_alpha")});
    add({"LinearRegressionOutput", "MAERegressionOutput", "LogisticRegressionOutput"}, {inert("grad_scale")});
    const auto never = [](const std::string&) { return false; };
    add({"Reshape", "reshape"}, {read("shape"), read("reverse"), {"target_shape", Use::Neutral, never, "the legacy target_shape form"},
                                 {"keep_highest", Use::Neutral, never, "the legacy keep_highest form"}});
    add({"Embedding"}, {read("input_dim"), read("output_dim"), inert("dtype"), inert("sparse_grad")});
    add({"RNN"}, {read("state_size"), read("num_layers"), read("bidirectional"), read("mode"), read("state_outputs"),
                  read("projection_size"), read("lstm_state_clip_min"), read("lstm_state_clip_max"), read("use_sequence_length"),
                  inert("p"), inert("lstm_state_clip_nan")});
    add({"SequenceLast"}, {read("use_sequence_length"), read("axis")});
    add({"_zeros", "zeros", "_zeros_without_dtype"}, {read("shape"), inert("ctx"), inert("dtype")});
    add({"reverse", "flip", "expand_dims"}, {read("axis")});
    add({"_rnn_param_concat"}, {read("dim"), inert("num_args")});
    add({"LayerNorm"}, {read("axis"), read("eps"), inert("output_mean_var")});
    add({"InstanceNorm"}, {read("eps")});
    add({"GroupNorm"}, {read("num_groups"), read("eps"), inert("output_mean_var")});
    add({"repeat"}, {read("repeats"), read("axis")});
    add({"UpSampling"}, {read("scale"), read("sample_type"), read("num_args"), inert("num_filter"), inert("multi_input_mode"),
                         inert("workspace")});
    add({"Flatten", "flatten", "identity", "_copy", "BlockGrad", "stop_gradient", "zeros_like", "elemwise_add",
         "elemwise_sub", "elemwise_mul", "broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_maximum",
         "broadcast_minimum", "_plus", "_Plus", "_minus", "_Minus", "_mul", "_Mul", "_maximum", "_Maximum", "_minimum",
         "_Minimum", "relu", "sigmoid", "tanh", "softsign"},
        {});
    return m;
  }();
  return t;
}

// Hidden keys an old writer stored without underscores, alone or after an input name
// ("weight_lr_mult"); MXNet's loader moves them aside (formats-mxnet.md 7.8).
bool hidden_key(const std::string& k) {
  if (k.size() > 4 && k.compare(0, 2, "__") == 0 && k.compare(k.size() - 2, 2, "__") == 0) return true;
  for (const char* h : {"ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage", "profiler_scope"}) {
    const std::string s(h);
    if (k == s || (k.size() > s.size() + 1 && k.compare(k.size() - s.size() - 1, std::string::npos, "_" + s) == 0)) return true;
  }
  return false;
}

}  // namespace

void check_mxnet_attrs(const mxnet::SymNode& n) {
  if (n.op == "null") return;
  const auto& t = table();
  const auto it = t.find(n.op);
  if (it == t.end()) return;  // not an operator weightbridge reads: the importer refuses it by name
  for (const auto& [key, value] : n.attrs) {
    if (hidden_key(key)) continue;
    const Param* p = nullptr;
    for (const auto& q : it->second)
      if (key == q.name) p = &q;
    const std::string where = "node '" + n.name + "' (" + n.op + ")";
    if (!p)
      fail(ErrorKind::Unsupported,
           "attribute '" + key + "' is not one weightbridge knows for this operator; refusing rather than ignoring it", {}, where);
    if (p->use == Use::Neutral && !p->neutral(value))
      fail(ErrorKind::Unsupported, key + "=" + value + " (" + p->why + ") is not supported", {}, where);
  }
}

}  // namespace wb
