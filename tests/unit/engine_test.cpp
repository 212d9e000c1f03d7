// Reference engine: hand-derived tiny cases per op (expected values worked out in the comments),
// the BLAS path against plain loops, im2col convolution against a direct loop written here, and
// one real fixture with the output Keras produced.
#include <cmath>
#include <random>

#include "test_util.h"
#include "weightbridge/engine.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"
#include "weightbridge/mxnet_params.h"
#include "weightbridge/npy.h"

using namespace wb;
using nlohmann::json;

namespace {

Weight w(const std::string& role, Shape shape, const std::vector<float>& values) {
  return Weight{role, make_f32(role, std::move(shape), values), role, ""};
}

// Input "x" (shape without batch taken from the array) -> one node "y".
Model one_op(const std::string& op, json attrs, const Shape& in_shape, std::vector<Weight> weights = {}) {
  Model m;
  Node in;
  in.name = "x";
  in.op = "Input";
  in.attrs = {{"shape", Shape(in_shape.begin() + 1, in_shape.end())}};
  Node y;
  y.name = "y";
  y.op = op;
  y.attrs = std::move(attrs);
  y.inputs = {"x"};
  y.weights = std::move(weights);
  m.nodes = {in, y};
  m.outputs = {"y"};
  return m;
}

Array run1(const Model& m, Array x) { return run_model(m, {{"x", std::move(x)}}).at("y"); }

std::vector<float> iota(size_t n, float start = 0.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

json conv_attrs(int rank, int64_t filters, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> d,
                const std::string& padding, const std::string& df = "channels_last", int64_t groups = 1) {
  return {{"rank", rank}, {"filters", filters}, {"kernel_size", k}, {"strides", s}, {"dilation", d},
          {"groups", groups}, {"use_bias", false}, {"padding", padding}, {"data_format", df}, {"activation", "linear"}};
}

ErrorKind error_kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.format();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::Usage;
}

}  // namespace

TEST(EngineConv, SameStride2On5x5) {
  // x[r][c] = 5r + c, 3x3 kernel of ones, stride 2, 'same': out 3x3, pad (1, 1) per axis.
  // Rows covered: out row 0 -> {0,1}, 1 -> {1,2,3}, 2 -> {3,4} (same for columns), so
  // out = 5*|C|*sum(R) + |R|*sum(C): [[12, 27, 24], [63, 108, 81], [72, 117, 84]].
  Model m = one_op("Conv", conv_attrs(2, 1, {3, 3}, {2, 2}, {1, 1}, "same"), {1, 5, 5, 1},
                   {w("kernel", {3, 3, 1, 1}, std::vector<float>(9, 1.0f))});
  Array y = run1(m, {{1, 5, 5, 1}, iota(25)});
  EXPECT_EQ(y.shape, (Shape{1, 3, 3, 1}));
  expect_near(y.data, {12, 27, 24, 63, 108, 81, 72, 117, 84});
}

TEST(EngineConv, SameStride2On4x4PadsAfterLikeKeras) {
  // x[r][c] = 4r + c; out 2x2; total pad 1 goes AFTER (Keras/TF): rows {0,1,2} and {2,3}.
  // out[0][0] = 4*3*3 + 3*3 = 45, out[0][1] = 4*2*3 + 3*5 = 39, out[1][0] = 4*3*5 + 2*3 = 66,
  // out[1][1] = 4*2*5 + 2*5 = 50. (Padding before instead would give 10, 24, 51, 90.)
  Model m = one_op("Conv", conv_attrs(2, 1, {3, 3}, {2, 2}, {1, 1}, "same"), {1, 4, 4, 1},
                   {w("kernel", {3, 3, 1, 1}, std::vector<float>(9, 1.0f))});
  expect_near(run1(m, {{1, 4, 4, 1}, iota(16)}).data, {45, 39, 66, 50});
}

TEST(EngineConv, ChannelsFirstSameAsChannelsLastOnOneChannel) {
  // The 5x5 case above with data_format channels_first: a single channel has the same layout.
  json a = conv_attrs(2, 1, {3, 3}, {2, 2}, {1, 1}, "same", "channels_first");
  Model m = one_op("Conv", a, {1, 1, 5, 5}, {w("kernel", {3, 3, 1, 1}, std::vector<float>(9, 1.0f))});
  Array y = run1(m, {{1, 1, 5, 5}, iota(25)});
  EXPECT_EQ(y.shape, (Shape{1, 1, 3, 3}));
  expect_near(y.data, {12, 27, 24, 63, 108, 81, 72, 117, 84});
}

TEST(EngineConv, ChannelsFirstMixesChannels) {
  // (N, C=2, H=1, W=2): c0 = [1, 2], c1 = [3, 4]; 1x1 kernel (1, 1, in=2, out=1) = [1, 10], bias 0.5
  // -> [1 + 30, 2 + 40] + 0.5 = [31.5, 42.5].
  json a = conv_attrs(2, 1, {1, 1}, {1, 1}, {1, 1}, "valid", "channels_first");
  a["use_bias"] = true;
  Model m = one_op("Conv", a, {1, 2, 1, 2}, {w("kernel", {1, 1, 2, 1}, {1, 10}), w("bias", {1}, {0.5f})});
  expect_near(run1(m, {{1, 2, 1, 2}, {1, 2, 3, 4}}).data, {31.5f, 42.5f});
}

TEST(EngineConv, GroupsUseTheirOwnChannels) {
  // One position, 4 channels [1, 2, 3, 4], groups 2, 2 filters, kernel (k=1, in/groups=2, 2):
  // W[ci][f] = [[1, 10], [100, 1000]]. Filter 0 (group 0) sees channels 0,1: 1*1 + 2*100 = 201.
  // Filter 1 (group 1) sees channels 2,3: 3*10 + 4*1000 = 4030.
  Model m = one_op("Conv", conv_attrs(1, 2, {1}, {1}, {1}, "valid", "channels_last", 2), {1, 1, 4},
                   {w("kernel", {1, 2, 2}, {1, 10, 100, 1000})});
  expect_near(run1(m, {{1, 1, 4}, {1, 2, 3, 4}}).data, {201, 4030});
}

TEST(EngineConv, Dilation) {
  // x = [1..5], kernel [1, 10], dilation 2, valid: y[i] = x[i] + 10 x[i+2] = [31, 42, 53].
  Model m = one_op("Conv", conv_attrs(1, 1, {2}, {1}, {2}, "valid"), {1, 5, 1}, {w("kernel", {2, 1, 1}, {1, 10})});
  expect_near(run1(m, {{1, 5, 1}, iota(5, 1)}).data, {31, 42, 53});
}

TEST(EngineConv, CausalPadsDilationTimesKMinusOneBefore) {
  // Same kernel, causal: two zeros before -> [0,0,1,2,3,4,5]: y = [10, 20, 31, 42, 53].
  Model m = one_op("Conv", conv_attrs(1, 1, {2}, {1}, {2}, "causal"), {1, 5, 1}, {w("kernel", {2, 1, 1}, {1, 10})});
  expect_near(run1(m, {{1, 5, 1}, iota(5, 1)}).data, {10, 20, 31, 42, 53});
}

TEST(EngineConv, ActivationAttributeApplies) {
  json a = conv_attrs(1, 1, {1}, {1}, {1}, "valid");
  a["activation"] = "relu";
  Model m = one_op("Conv", a, {1, 3, 1}, {w("kernel", {1, 1, 1}, {-1})});
  expect_near(run1(m, {{1, 3, 1}, {-2, 0, 3}}).data, {2, 0, 0});
}

// A direct convolution written independently of the engine (channels_first, any groups,
// dilation, stride, explicit pads) against the engine on random data.
TEST(EngineConv, Im2colMatchesDirectLoopOnRandomGroupedDilatedCase) {
  const int64_t n = 2, c = 4, h = 7, wd = 6, f = 6, groups = 2, kh = 3, kw = 2, s = 2, dil = 2;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<size_t>(n * c * h * wd)), k(static_cast<size_t>(kh * kw * (c / groups) * f));
  for (auto& v : x) v = u(rng);
  for (auto& v : k) v = u(rng);
  json a = conv_attrs(2, f, {kh, kw}, {s, s}, {dil, dil}, "same", "channels_first", groups);
  Model m = one_op("Conv", a, {n, c, h, wd}, {w("kernel", {kh, kw, c / groups, f}, k)});
  Array y = run1(m, {{n, c, h, wd}, x});
  const auto [ph, ph_after] = same_padding(h, kh, s, dil);
  const auto [pw, pw_after] = same_padding(wd, kw, s, dil);
  const int64_t oh = (h + s - 1) / s, ow = (wd + s - 1) / s, cg = c / groups, fg = f / groups;
  ASSERT_EQ(y.shape, (Shape{n, f, oh, ow}));
  (void)ph_after;
  (void)pw_after;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = 0;
          const int64_t g = o / fg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t a1 = 0; a1 < kh; ++a1)
              for (int64_t a2 = 0; a2 < kw; ++a2) {
                const int64_t yy = i * s - ph + a1 * dil, xx = j * s - pw + a2 * dil;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += static_cast<double>(x[static_cast<size_t>(((b * c + g * cg + ci) * h + yy) * wd + xx)]) *
                       k[static_cast<size_t>(((a1 * kw + a2) * cg + ci) * f + o)];
              }
          EXPECT_NEAR(y.data[static_cast<size_t>(((b * f + o) * oh + i) * ow + j)], acc, 1e-5);
        }
}

TEST(EnginePool, AvgSameExcludesPadding) {
  // x = [[1,2,3],[4,5,6],[7,8,9]], pool 2x2 stride 1 'same': pad (0, 1), windows clipped at the
  // end: [[(1+2+4+5)/4, (2+3+5+6)/4, (3+6)/2], [(4+5+7+8)/4, (5+6+8+9)/4, (6+9)/2], [(7+8)/2, (8+9)/2, 9]].
  json a = {{"rank", 2}, {"pool_type", "avg"}, {"pool_size", {2, 2}}, {"strides", {1, 1}}, {"padding", "same"},
            {"data_format", "channels_last"}};
  Model m = one_op("Pool", a, {1, 3, 3, 1});
  expect_near(run1(m, {{1, 3, 3, 1}, iota(9, 1)}).data, {3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9});
  a["pool_type"] = "max";
  expect_near(run1(one_op("Pool", a, {1, 3, 3, 1}), {{1, 3, 3, 1}, iota(9, 1)}).data, {5, 6, 6, 8, 9, 9, 8, 9, 9});
}

TEST(EnginePool, MaxValidChannelsFirstStride2) {
  // (1, 2, 2, 4): c0 = 0..7, c1 = 8..15; 2x2 stride 2 -> c0 [5, 7], c1 [13, 15].
  json a = {{"rank", 2}, {"pool_type", "max"}, {"pool_size", {2, 2}}, {"strides", {2, 2}}, {"padding", "valid"},
            {"data_format", "channels_first"}};
  Array y = run1(one_op("Pool", a, {1, 2, 2, 4}), {{1, 2, 2, 4}, iota(16)});
  EXPECT_EQ(y.shape, (Shape{1, 2, 1, 2}));
  expect_near(y.data, {5, 7, 13, 15});
}

TEST(EnginePool, GlobalAvgAndMax) {
  // channels_last (1, 2, 2, 2): c0 = [0, 2, 4, 6], c1 = [1, 3, 5, 7] -> avg [3, 4], max [6, 7].
  json a = {{"rank", 2}, {"pool_type", "avg"}, {"data_format", "channels_last"}};
  expect_near(run1(one_op("GlobalPool", a, {1, 2, 2, 2}), {{1, 2, 2, 2}, iota(8)}).data, {3, 4});
  a["pool_type"] = "max";
  expect_near(run1(one_op("GlobalPool", a, {1, 2, 2, 2}), {{1, 2, 2, 2}, iota(8)}).data, {6, 7});
}

TEST(EngineActivation, SoftmaxAxis) {
  // x = [[1, 2, 3], [1, 1, 1]] (batch 1). Axis -1: [e^-2, e^-1, 1] / (e^-2 + e^-1 + 1) and 1/3 each.
  // Axis 1 (columns): (1,1) -> .5/.5; (2,1) -> 1/(1+e^-1) = 0.7310586; (3,1) -> 1/(1+e^-2) = 0.8807971.
  Array x{{1, 2, 3}, {1, 2, 3, 1, 1, 1}};
  expect_near(run1(one_op("Activation", {{"activation", "softmax"}}, x.shape), x).data,
              {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f});
  expect_near(run1(one_op("Activation", {{"activation", "softmax"}, {"axis", 1}}, x.shape), x).data,
              {0.5f, 0.7310586f, 0.8807971f, 0.5f, 0.2689414f, 0.1192029f});
  EXPECT_EQ(error_kind_of([&] { run1(one_op("Activation", {{"activation", "softmax"}, {"axis", 0}}, x.shape), x); }),
            ErrorKind::Malformed);  // the batch axis
}

TEST(EngineActivation, HardSigmoidSlope) {
  // Keras 2: clip(0.2 x + 0.5, 0, 1); slope 1/6 (Keras 3): clip(x/6 + 0.5, 0, 1).
  Array x{{1, 4}, {-3, 0, 1, 3}};
  expect_near(run1(one_op("Activation", {{"activation", "hard_sigmoid"}}, x.shape), x).data, {0, 0.5f, 0.7f, 1});
  expect_near(run1(one_op("Activation", {{"activation", "hard_sigmoid"}, {"hard_sigmoid_slope", 1 / 6.0}}, x.shape), x).data,
              {0, 0.5f, 0.6666667f, 1});
}

TEST(EngineActivation, ScalarFunctions) {
  // Values at x = 1 and x = -1 from the textbook definitions.
  Array x{{1, 2}, {1, -1}};
  auto act = [&](const std::string& name) { return run1(one_op("Activation", {{"activation", name}}, x.shape), x).data; };
  expect_near(act("relu"), {1, 0});
  expect_near(act("sigmoid"), {0.7310586f, 0.2689414f});
  expect_near(act("tanh"), {0.7615942f, -0.7615942f});
  expect_near(act("softplus"), {1.3132617f, 0.3132617f});
  expect_near(act("softsign"), {0.5f, -0.5f});
  expect_near(act("elu"), {1, -0.6321206f});
  expect_near(act("selu"), {1.0507010f, -1.1113307f});
  expect_near(act("exponential"), {2.7182818f, 0.3678794f});
  expect_near(act("swish"), {0.7310586f, -0.2689414f});
  expect_near(act("gelu"), {0.8413447f, -0.1586553f});
  expect_near(act("linear"), {1, -1});
  std::string msg;
  EXPECT_EQ(error_kind_of([&] { act("mish"); }, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("mish"), std::string::npos);
  EXPECT_NE(msg.find("node 'y'"), std::string::npos);
  Array l = run1(one_op("LeakyReLU", {{"alpha", 0.1}}, x.shape), x);
  expect_near(l.data, {1, -0.1f});
}

TEST(EngineBatchNorm, FixGammaCaseBR11) {
  // failure case BR-11: input [3, 0] on axis 1 of (1, 2, 1, 1), gamma 1 (fix_gamma), beta [0.1, -0.1],
  // mean [1, -1], var [4, 0.25], eps 1e-3 -> [1.099875, 1.896012].
  std::vector<Weight> ws = {w("gamma", {2}, {1, 1}), w("beta", {2}, {0.1f, -0.1f}), w("moving_mean", {2}, {1, -1}),
                            w("moving_variance", {2}, {4, 0.25f})};
  json a = {{"axis", 1}, {"epsilon", 1e-3}, {"center", true}, {"scale", true}};
  expect_near(run1(one_op("BatchNorm", a, {1, 2, 1, 1}, ws), {{1, 2, 1, 1}, {3, 0}}).data, {1.099875f, 1.896012f});
  // scale = false: no gamma weight, same result (gamma = 1).
  ws.erase(ws.begin());
  a["scale"] = false;
  expect_near(run1(one_op("BatchNorm", a, {1, 2, 1, 1}, ws), {{1, 2, 1, 1}, {3, 0}}).data, {1.099875f, 1.896012f});
  // Axis -1 on (1, 1, 2) addresses the same channels.
  a["axis"] = -1;
  expect_near(run1(one_op("BatchNorm", a, {1, 1, 2}, ws), {{1, 1, 2}, {3, 0}}).data, {1.099875f, 1.896012f});
  // center = false as well: beta = 0 -> [0.999875, 1.996012].
  ws.erase(ws.begin());
  a["center"] = false;
  expect_near(run1(one_op("BatchNorm", a, {1, 1, 2}, ws), {{1, 1, 2}, {3, 0}}).data, {0.999875f, 1.996012f});
}

TEST(EngineBatchNorm, WrongStatisticsShapeIsMalformed) {
  std::vector<Weight> ws = {w("moving_mean", {3}, {0, 0, 0}), w("moving_variance", {3}, {1, 1, 1})};
  json a = {{"axis", -1}, {"center", false}, {"scale", false}};
  EXPECT_EQ(error_kind_of([&] { run1(one_op("BatchNorm", a, {1, 2}, ws), {{1, 2}, {0, 0}}); }), ErrorKind::Malformed);
}

TEST(EngineShape, FlattenChannelsLastFirst) {
  // channels_first (1, C=2, H=1, W=2): c0 = [1, 2], c1 = [3, 4]. Plain flatten keeps [1, 2, 3, 4];
  // channels_last_first reads it in (H, W, C) order: [1, 3, 2, 4].
  Array x{{1, 2, 1, 2}, {1, 2, 3, 4}};
  Array plain = run1(one_op("Flatten", {{"channels_last_first", false}}, x.shape), x);
  EXPECT_EQ(plain.shape, (Shape{1, 4}));
  expect_near(plain.data, {1, 2, 3, 4});
  expect_near(run1(one_op("Flatten", {{"channels_last_first", true}}, x.shape), x).data, {1, 3, 2, 4});
}

TEST(EngineShape, PermuteReshapeZeroPadding) {
  // Permute dims (2, 1) of [[1,2,3],[4,5,6]] -> [[1,4],[2,5],[3,6]].
  Array x{{1, 2, 3}, iota(6, 1)};
  Array p = run1(one_op("Permute", {{"dims", {2, 1}}}, x.shape), x);
  EXPECT_EQ(p.shape, (Shape{1, 3, 2}));
  expect_near(p.data, {1, 4, 2, 5, 3, 6});
  Array r = run1(one_op("Reshape", {{"target_shape", {-1, 2}}}, x.shape), x);
  EXPECT_EQ(r.shape, (Shape{1, 3, 2}));
  EXPECT_EQ(error_kind_of([&] { run1(one_op("Reshape", {{"target_shape", {4}}}, x.shape), x); }), ErrorKind::Malformed);
  // ZeroPadding1D (1, 2) on channels_last (1, 2, 1) [5, 6] -> [0, 5, 6, 0, 0].
  Array z = run1(one_op("ZeroPadding", {{"rank", 1}, {"padding", {{1, 2}}}}, {1, 2, 1}), {{1, 2, 1}, {5, 6}});
  EXPECT_EQ(z.shape, (Shape{1, 5, 1}));
  expect_near(z.data, {0, 5, 6, 0, 0});
  // ZeroPadding2D ((1, 0), (0, 1)) channels_first (1, 1, 1, 2) [7, 8] -> [[0, 0, 0], [7, 8, 0]].
  json zp = {{"rank", 2}, {"padding", {{1, 0}, {0, 1}}}, {"data_format", "channels_first"}};
  expect_near(run1(one_op("ZeroPadding", zp, {1, 1, 1, 2}), {{1, 1, 1, 2}, {7, 8}}).data, {0, 0, 0, 7, 8, 0});
}

TEST(EngineShape, EmbeddingClipsIndices) {
  // Table [[0,1],[10,11],[20,21]]; indices [1, 2, 5 -> 2 (clipped), -1 -> 0 (clipped), 1.7 -> 1].
  Model m = one_op("Embedding", {{"input_dim", 3}, {"output_dim", 2}}, {1, 5},
                   {w("embeddings", {3, 2}, {0, 1, 10, 11, 20, 21})});
  Array y = run1(m, {{1, 5}, {1, 2, 5, -1, 1.7f}});
  EXPECT_EQ(y.shape, (Shape{1, 5, 2}));
  expect_near(y.data, {10, 11, 20, 21, 20, 21, 0, 1, 10, 11});
}

TEST(EngineDense, LastAxisOfRank3WithBiasAndActivation) {
  // x = [[1, 2], [3, 4]] (batch 1), kernel (2, 1) = [1, 10], bias 0.5: [21.5, 43.5]; relu keeps them.
  Model m = one_op("Dense", {{"units", 1}, {"use_bias", true}, {"activation", "relu"}}, {1, 2, 2},
                   {w("kernel", {2, 1}, {1, 10}), w("bias", {1}, {0.5f})});
  Array y = run1(m, {{1, 2, 2}, {1, 2, 3, 4}});
  EXPECT_EQ(y.shape, (Shape{1, 2, 1}));
  expect_near(y.data, {21.5f, 43.5f});
  // Kernel with the wrong input size is a clear error.
  Model bad = one_op("Dense", {{"units", 1}, {"use_bias", false}}, {1, 3}, {w("kernel", {2, 1}, {1, 10})});
  std::string msg;
  EXPECT_EQ(error_kind_of([&] { run1(bad, {{1, 3}, {1, 2, 3}}); }, &msg), ErrorKind::Malformed);
  EXPECT_NE(msg.find("kernel"), std::string::npos);
}

TEST(EngineGraph, AddConcatKeepAllAndUnknownOp) {
  // x -> a = relu(x), b = x + a, c = concat([x, b], axis -1). x = [-1, 2]: a = [0, 2], b = [-1, 4].
  Model m = one_op("Activation", {{"activation", "relu"}}, {1, 2});
  m.nodes[1].name = "a";
  Node b{"b", "Add", json::object(), {"x", "a"}, {}};
  Node c{"c", "Concat", {{"axis", -1}}, {"x", "b"}, {}};
  m.nodes.push_back(b);
  m.nodes.push_back(c);
  m.outputs = {"c"};
  auto out = run_model(m, {{"x", {{1, 2}, {-1, 2}}}});
  ASSERT_EQ(out.size(), 1u);
  expect_near(out.at("c").data, {-1, 2, -1, 4});
  auto all = run_model(m, {{"x", {{1, 2}, {-1, 2}}}}, true);
  EXPECT_EQ(all.size(), 4u);
  expect_near(all.at("a").data, {0, 2});
  expect_near(all.at("b").data, {-1, 4});
  m.nodes[2].op = "Frobnicate";
  std::string msg;
  EXPECT_EQ(error_kind_of([&] { Engine e(m); }, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("Frobnicate"), std::string::npos);
  EXPECT_NE(msg.find("'b'"), std::string::npos);
}

TEST(EngineGraph, InputShapeIsChecked) {
  Model m = one_op("Dropout", {{"rate", 0.5}}, {1, 3});
  expect_near(run1(m, {{1, 3}, {1, 2, 3}}).data, {1, 2, 3});
  EXPECT_EQ(error_kind_of([&] { run1(m, {{1, 4}, {1, 2, 3, 4}}); }), ErrorKind::Malformed);
  EXPECT_EQ(error_kind_of([&] { run1(m, {{1, 3}, {1, 2}}); }), ErrorKind::Malformed);
  EXPECT_EQ(error_kind_of([&] { run_model(m, {}); }), ErrorKind::Usage);
}

TEST(EngineGemm, BlasMatchesPlainLoops) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  struct Case { size_t m, n, k; };
  for (Case cs : {Case{1, 7, 5}, Case{7, 1, 5}, Case{3, 4, 0}, Case{17, 33, 65}, Case{64, 49, 300}}) {
    const size_t ldb = cs.n + 3, ldc = cs.n + 2;  // strided B and C as grouped convolution uses them
    std::vector<float> a(cs.m * std::max<size_t>(cs.k, 1)), b(std::max<size_t>(cs.k, 1) * ldb), c1(cs.m * ldc, 2.0f);
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng);
    std::vector<float> c2 = c1;
    sgemm(cs.m, cs.n, cs.k, a.data(), std::max<size_t>(cs.k, 1), b.data(), ldb, 0.0f, c1.data(), ldc);
    sgemm_reference(cs.m, cs.n, cs.k, a.data(), std::max<size_t>(cs.k, 1), b.data(), ldb, 0.0f, c2.data(), ldc);
    for (size_t i = 0; i < c1.size(); ++i) EXPECT_NEAR(c1[i], c2[i], 1e-4) << cs.m << "x" << cs.n << "x" << cs.k;
  }
}

TEST(Npy, WriterHeaderAndRoundTrip) {
  const Bytes b = npy::encode_f32({2}, {1.5f, -2.0f});
  // 10-byte preamble + 57-byte dict + newline = 68, padded with spaces to 128; then 2 floats.
  const std::string head(b.begin() + 10, b.begin() + 10 + 57);
  EXPECT_EQ(head, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }");
  ASSERT_EQ(b.size(), 128u + 8u);
  EXPECT_EQ(b[127], '\n');
  EXPECT_EQ(b[126], ' ');
  EXPECT_EQ(b[8] | (b[9] << 8), 118);
  EXPECT_EQ(b[128 + 3], 0x3F);  // 1.5f = 0x3FC00000, little-endian
  EXPECT_EQ(b[128 + 2], 0xC0);
  const std::string path = wbtest::tmp_dir() + "/a.npy";
  npy::write_f32(path, {2, 3}, iota(6));
  const auto f = mxnet::read_params(path);
  ASSERT_EQ(f.container, "npy");
  const Tensor t = mxnet::record_tensor(f, 0);
  EXPECT_EQ(t.shape, (Shape{2, 3}));
  EXPECT_EQ(to_f32(t.load(), t.dtype), iota(6));
}

TEST(EngineFixture, KerasCnnBatchNormGold) {
  WB_FIXTURE(model, "keras2/cnn_batch_norm.h5");
  WB_FIXTURE(input, "keras2/cnn_batch_norm_input.npy");
  WB_FIXTURE(gold, "keras2/cnn_batch_norm_predictions.npy");
  const Model m = load_model({model}, std::nullopt, {});
  const auto in = mxnet::read_params(input);
  const Tensor x = mxnet::record_tensor(in, 0);  // float64 (5, 10, 10, 3)
  const Engine e(m);
  const auto out = e.run({{e.input_names().at(0), Array{x.shape, to_f32(x.load(), x.dtype)}}});
  const auto g = mxnet::read_params(gold);
  const Tensor want = mxnet::record_tensor(g, 0);
  const Array& y = out.at(m.outputs.at(0));
  EXPECT_EQ(y.shape, want.shape);
  expect_near(y.data, to_f32(want.load(), want.dtype), 1e-5f);
}

TEST(EngineKerasImport, HardSigmoidSlopeFollowsKerasGeneration) {
  // Keras 2: clip(0.2 x + 0.5, 0, 1) -> 0.7 at x = 1; Keras 3: clip(x / 6 + 0.5, 0, 1) -> 0.6666667.
  const json config = {{"class_name", "Sequential"},
                       {"config", {{"layers", {{{"class_name", "Activation"},
                                                {"config", {{"name", "act"}, {"activation", "hard_sigmoid"},
                                                            {"batch_input_shape", {nullptr, 1}}}}}}}}}};
  keras::H5File k2;
  k2.layout = "keras-legacy-weights";
  k2.keras_version = "2.2.4";
  k2.backend = "tensorflow";
  keras::H5File k3;
  k3.layout = "keras3-weights";
  for (const auto& [file, want] : {std::make_pair(k2, 0.7f), std::make_pair(k3, 0.6666667f)}) {
    const Model m = import_keras(file, config, file.layout == "keras3-weights" ? "3.0.0" : "", {});
    const Engine e(m);
    const auto out = e.run({{e.input_names().at(0), Array{{1, 1}, {1.0f}}}});
    EXPECT_NEAR(out.at("act").data.at(0), want, 1e-6) << file.layout;
  }
}
