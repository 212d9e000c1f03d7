#include "weightbridge/mxnet_symbol.h"

#include <fstream>
#include <sstream>

#include "test_util.h"
#include "weightbridge/error.h"

using namespace wb;
using namespace wb::mxnet;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string entries_str(const std::vector<SymEntry>& es) {
  std::string s;
  for (const auto& e : es)
    s += "[" + std::to_string(e.node) + "," + std::to_string(e.index) + "," + std::to_string(e.version) + "]";
  return s;
}

void expect_same_graph(const Symbol& a, const Symbol& b) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    SCOPED_TRACE("node " + std::to_string(i));
    EXPECT_EQ(a.nodes[i].op, b.nodes[i].op);
    EXPECT_EQ(a.nodes[i].name, b.nodes[i].name);
    EXPECT_EQ(a.nodes[i].attrs, b.nodes[i].attrs);
    EXPECT_EQ(entries_str(a.nodes[i].inputs), entries_str(b.nodes[i].inputs));
  }
  EXPECT_EQ(a.arg_nodes, b.arg_nodes);
  EXPECT_EQ(entries_str(a.heads), entries_str(b.heads));
}

// Parses and expects a Malformed error whose one-line text contains `phrase`; returns the text.
std::string malformed_message(const std::string& text, const std::string& phrase) {
  try {
    parse_symbol(text, "bad-symbol.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Malformed) << e.format();
    EXPECT_NE(e.format().find(phrase), std::string::npos) << e.format();
    EXPECT_NE(e.format().find("bad-symbol.json"), std::string::npos) << e.format();
    EXPECT_EQ(e.format().find('\n'), std::string::npos) << e.format();
    return e.format();
  }
  ADD_FAILURE() << "accepted; expected an error containing: " << phrase;
  return {};
}

// A modern (1.x) file around the given node list.
std::string graph(const std::string& nodes, const std::string& arg_nodes, const std::string& heads,
                  const std::string& extra = "") {
  return "{\"nodes\": [" + nodes + "], \"arg_nodes\": [" + arg_nodes + "], \"heads\": [" + heads + "]" + extra +
         ", \"attrs\": {\"mxnet_version\": [\"int\", 10600]}}";
}

const std::string kVar = R"({"op": "null", "name": "x", "inputs": []})";

}  // namespace

// ------------------------------------------------------------------ real files

TEST(MxnetSymbol, Legacy08FileParsesAndGainsBatchNormAuxVariables) {
  WB_FIXTURE(path, "mxnet-module/legacy_save_000800-symbol.json");
  Symbol s = read_symbol(path);
  EXPECT_EQ(s.dialect, "param");
  EXPECT_EQ(s.mxnet_version, 0);
  // 17 stored nodes + batchnorm0_moving_mean/_moving_var inserted before batchnorm0.
  ASSERT_EQ(s.nodes.size(), 19u);
  EXPECT_EQ(s.nodes[14].name, "batchnorm0_moving_mean");
  EXPECT_EQ(s.nodes[15].name, "batchnorm0_moving_var");
  EXPECT_EQ(s.nodes[14].op, "null");
  const SymNode& bn = s.nodes[16];
  EXPECT_EQ(bn.op, "BatchNorm");
  EXPECT_EQ(bn.name, "batchnorm0");
  EXPECT_EQ(entries_str(bn.inputs), "[11,0,0][12,0,0][13,0,0][14,0,1][15,0,1]");
  EXPECT_EQ(s.nodes[12].name, "batchnorm0_gamma");
  EXPECT_EQ(s.nodes[18].name, "softmax");
  EXPECT_EQ(entries_str(s.nodes[18].inputs), "[16,0,0][17,0,0]");
  EXPECT_EQ(s.arg_nodes, (std::vector<int>{0, 1, 2, 5, 6, 9, 10, 12, 13, 14, 15, 17}));
  EXPECT_EQ(entries_str(s.heads), "[18,0,0]");
  // "param" and "attr" merged; old plain hidden keys renamed; "<input>_lr_mult" left on the op.
  const SymNode& fc1 = s.nodes[3];
  EXPECT_EQ(fc1.attrs, (std::map<std::string, std::string>{{"no_bias", "False"},
                                                            {"num_hidden", "128"},
                                                            {"__ctx_group__", "stage1"},
                                                            {"__wd_mult__", "0.3"},
                                                            {"weight_lr_mult", "1.2"}}));
  EXPECT_EQ(s.nodes[0].attrs.at("__lr_mult__"), "0.2");
  EXPECT_EQ(s.nodes[0].attrs.count("lr_mult"), 0u);
  // The new variables carry the op's attributes, as MXNet's upgrade does.
  EXPECT_EQ(s.nodes[15].attrs, bn.attrs);
  EXPECT_EQ(s.nodes[15].attrs.at("eps"), "0.001");
}

TEST(MxnetSymbol, Mxnet011FilesUseAttrDialect) {
  WB_FIXTURE(linreg_path, "mxnet-module/linreg-symbol.json");
  WB_FIXTURE(mlp_path, "mxnet-gluon/mnist_mlp_gluon-symbol.json");
  Symbol linreg = read_symbol(linreg_path);
  EXPECT_EQ(linreg.dialect, "attr");
  EXPECT_EQ(linreg.mxnet_version, 1100);
  ASSERT_EQ(linreg.nodes.size(), 6u);
  EXPECT_EQ(linreg.nodes[3].op, "FullyConnected");
  EXPECT_EQ(linreg.nodes[3].attrs.at("num_hidden"), "1");
  EXPECT_EQ(linreg.nodes[5].op, "LinearRegressionOutput");
  EXPECT_EQ(entries_str(linreg.heads), "[5,0,0]");
  EXPECT_EQ(linreg.arg_nodes, (std::vector<int>{0, 1, 2, 4}));

  Symbol mlp = read_symbol(mlp_path);
  EXPECT_EQ(mlp.dialect, "attr");
  EXPECT_EQ(mlp.mxnet_version, 1100);
  ASSERT_EQ(mlp.nodes.size(), 12u);
  EXPECT_EQ(mlp.nodes[11].name, "sequential0_dense2_fwd");
  EXPECT_EQ(mlp.nodes[4].op, "Activation");
  EXPECT_EQ(parse_tuple(mlp.nodes[1].attrs.at("__shape__")), (Shape{128, 0}));
  EXPECT_EQ(parse_tuple(mlp.nodes[2].attrs.at("__shape__")), (Shape{128}));
  EXPECT_EQ(entries_str(mlp.heads), "[11,0,0]");
}

TEST(MxnetSymbol, Mxnet13KerasFileParses) {
  WB_FIXTURE(path, "mxnet-module/smilecnn_kerasmxnet-symbol.json");
  Symbol s = read_symbol(path);
  EXPECT_EQ(s.dialect, "attrs");
  EXPECT_EQ(s.mxnet_version, 10300);
  ASSERT_EQ(s.nodes.size(), 28u);
  EXPECT_EQ(s.nodes[1].name, "conv2d_1/kernel1");
  EXPECT_EQ(parse_tuple(s.nodes[1].attrs.at("__shape__")), (Shape{32, 1, 3, 3}));
  EXPECT_EQ(parse_tuple(s.nodes[17].attrs.at("__shape__")), (Shape{6272, 128}));
  EXPECT_EQ(s.nodes[2].op, "Convolution");
  EXPECT_TRUE(parse_bool(s.nodes[2].attrs.at("no_bias")));
  EXPECT_EQ(s.nodes[14].op, "Dropout");
  EXPECT_EQ(s.nodes[27].op, "softmax");
  EXPECT_EQ(entries_str(s.heads), "[27,0,0]");
  EXPECT_EQ(s.arg_nodes, (std::vector<int>{0, 1, 3, 7, 9, 17, 19, 23, 25}));
}

// The 1.3 file was written by dmlc's JSONWriter; attribute values are kept verbatim ("32L"),
// so writing the parsed graph must give back the file byte for byte.
TEST(MxnetSymbol, WriterReproducesMxnet13FileByteForByte) {
  WB_FIXTURE(path, "mxnet-module/smilecnn_kerasmxnet-symbol.json");
  const std::string text = slurp(path);
  EXPECT_EQ(write_symbol(parse_symbol(text, path), 10300), text);
}

TEST(MxnetSymbol, WriterReproducesMxnet011FilesInAttrDialect) {
  for (const char* rel : {"mxnet-module/linreg-symbol.json", "mxnet-gluon/mnist_mlp_gluon-symbol.json"}) {
    WB_FIXTURE(path, rel);
    const std::string text = slurp(path);
    EXPECT_EQ(write_symbol(parse_symbol(text, path), 1100, "attr"), text) << rel;
  }
}

TEST(MxnetSymbol, RoundTripKeepsEveryNode) {
  WB_FIXTURE(path, "mxnet-module/smilecnn_kerasmxnet-symbol.json");
  Symbol first = read_symbol(path);
  Symbol again = parse_symbol(write_symbol(first), "rewritten");
  expect_same_graph(first, again);
  EXPECT_EQ(again.dialect, "attrs");
  EXPECT_EQ(again.mxnet_version, 10300);
}

TEST(MxnetSymbol, UpgradedLegacyGraphRoundTripsThroughModernWriter) {
  WB_FIXTURE(path, "mxnet-module/legacy_save_000800-symbol.json");
  Symbol upgraded = read_symbol(path);
  Symbol again = parse_symbol(write_symbol(upgraded, 10600), "rewritten");
  expect_same_graph(upgraded, again);
  EXPECT_EQ(again.mxnet_version, 10600);
  EXPECT_EQ(again.nodes.size(), 19u);
}

// ------------------------------------------------------------------ BR-16 dialects

namespace {

const std::string kBr16Modern = R"({
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "fc1_weight", "attrs": {"num_hidden": "2"}, "inputs": []},
    {"op": "null", "name": "fc1_bias", "attrs": {"num_hidden": "2"}, "inputs": []},
    {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "2"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
    {"op": "null", "name": "softmax_label", "inputs": []},
    {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2, 4],
  "node_row_ptr": [0, 1, 2, 3, 4, 5, 6],
  "heads": [[5, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10600]}
})";

const std::string kBr16Attr = R"({
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "fc1_weight", "attr": {"num_hidden": "2"}, "inputs": []},
    {"op": "null", "name": "fc1_bias", "attr": {"num_hidden": "2"}, "inputs": []},
    {"op": "FullyConnected", "name": "fc1", "attr": {"num_hidden": "2"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
    {"op": "null", "name": "softmax_label", "inputs": []},
    {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2, 4],
  "node_row_ptr": [0, 1, 2, 3, 4, 5, 6],
  "heads": [[5, 0, 0]],
  "attrs": {"mxnet_version": ["int", 1100]}
})";

const std::string kBr16Param = R"({
  "nodes": [
    {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "fc1_weight", "inputs": [], "backward_source_id": -1,
     "attr": {"num_hidden": "2"}},
    {"op": "null", "param": {}, "name": "fc1_bias", "inputs": [], "backward_source_id": -1,
     "attr": {"num_hidden": "2"}},
    {"op": "FullyConnected", "param": {"num_hidden": "2"}, "name": "fc1",
     "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "softmax_label", "inputs": [], "backward_source_id": -1},
    {"op": "SoftmaxOutput", "param": {}, "name": "softmax", "inputs": [[3, 0], [4, 0]],
     "backward_source_id": -1}
  ],
  "arg_nodes": [0, 1, 2, 4],
  "heads": [[5, 0]]
})";

}  // namespace

TEST(MxnetSymbol, Br16ThreeDialectsParseToTheSameGraph) {
  Symbol modern = parse_symbol(kBr16Modern, "a.json");
  Symbol attr = parse_symbol(kBr16Attr, "b.json");
  Symbol param = parse_symbol(kBr16Param, "c.json");
  EXPECT_EQ(modern.dialect, "attrs");
  EXPECT_EQ(attr.dialect, "attr");
  EXPECT_EQ(param.dialect, "param");
  EXPECT_EQ(modern.mxnet_version, 10600);
  EXPECT_EQ(attr.mxnet_version, 1100);
  EXPECT_EQ(param.mxnet_version, 0);
  ASSERT_EQ(modern.nodes.size(), 6u);
  EXPECT_EQ(modern.nodes[3].attrs.at("num_hidden"), "2");
  expect_same_graph(modern, attr);
  expect_same_graph(modern, param);
}

TEST(MxnetSymbol, Br16WriterEmitsModernByDefaultAndAttrOnRequest) {
  Symbol g = parse_symbol(kBr16Param, "c.json");
  std::string modern = write_symbol(g, 10600);
  std::string old = write_symbol(g, 1100, "attr");
  EXPECT_NE(modern.find("\"attrs\": {\"num_hidden\": \"2\"}"), std::string::npos);
  EXPECT_EQ(modern.find("\"attr\":"), std::string::npos);
  EXPECT_NE(old.find("\"attr\": {\"num_hidden\": \"2\"}"), std::string::npos);
  EXPECT_EQ(old.find("\"attrs\": {\"num"), std::string::npos);
  expect_same_graph(parse_symbol(modern, "m"), g);
  expect_same_graph(parse_symbol(old, "o"), g);
  EXPECT_EQ(parse_symbol(old, "o").dialect, "attr");
}

TEST(MxnetSymbol, Br16UnknownNodeKeyNamesKeyNodeAndFile) {
  std::string text = kBr16Modern;
  const std::string anchor = R"("name": "fc1", )";
  text.replace(text.find(anchor), anchor.size(), anchor + R"("foo": 1, )");
  std::string msg = malformed_message(text, "unknown key \"foo\"");
  EXPECT_NE(msg.find("node 3 \"fc1\""), std::string::npos) << msg;
}

// ------------------------------------------------------------------ upgrades

TEST(MxnetSymbol, Legacy08UpgradeUsesDeclaredInputNames) {
  const std::string text = R"js({"nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "conv_weight", "inputs": []},
    {"op": "Convolution", "name": "conv", "param": {"kernel": "(3, 3)", "num_filter": "4"},
     "inputs": [[0, 0], [1, 0]]},
    {"op": "null", "name": "deconv_weight", "inputs": []},
    {"op": "Deconvolution", "name": "deconv", "param": {"kernel": "(2, 2)", "num_filter": "4"},
     "inputs": [[2, 0], [3, 0]]},
    {"op": "LeakyReLU", "name": "act", "param": {"act_type": "prelu"}, "inputs": [[4, 0]]},
    {"op": "LeakyReLU", "name": "leaky", "param": {}, "inputs": [[5, 0]]}
  ], "arg_nodes": [0, 1, 3], "heads": [[6, 0]]})js";
  Symbol s = parse_symbol(text, "old.json");
  ASSERT_EQ(s.nodes.size(), 9u);
  EXPECT_EQ(s.nodes[2].name, "conv_bias");  // Convolution no_bias defaults to false
  EXPECT_EQ(entries_str(s.nodes[3].inputs), "[0,0,0][1,0,0][2,0,0]");
  EXPECT_EQ(s.nodes[5].name, "deconv");  // Deconvolution no_bias defaults to true: nothing added
  EXPECT_EQ(s.nodes[6].name, "act_gamma");
  EXPECT_EQ(entries_str(s.nodes[7].inputs), "[5,0,0][6,0,0]");
  EXPECT_EQ(entries_str(s.nodes[8].inputs), "[7,0,0]");
  EXPECT_EQ(s.arg_nodes, (std::vector<int>{0, 1, 2, 4, 6}));
  EXPECT_EQ(entries_str(s.heads), "[8,0,0]");
}

TEST(MxnetSymbol, NoUpgradeForNewerFiles) {
  const std::string text = graph(R"({"op": "null", "name": "data", "inputs": []},
      {"op": "null", "name": "g", "inputs": []}, {"op": "null", "name": "b", "inputs": []},
      {"op": "BatchNorm", "name": "bn", "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]})",
                                 "0, 1, 2", "[3, 0, 0]");
  Symbol s = parse_symbol(text, "new.json");
  EXPECT_EQ(s.nodes.size(), 4u);
  EXPECT_EQ(s.nodes[3].inputs.size(), 3u);
}

TEST(MxnetSymbol, OldHiddenKeysRenamedInEveryVersion) {
  const std::string text = graph(
      R"({"op": "null", "name": "w", "attrs": {"lr_mult": "2", "mirror_stage": "1", "__init__": "zeros"},
          "inputs": []})",
      "0", "[0, 0, 0]");
  Symbol s = parse_symbol(text, "h.json");
  EXPECT_EQ(s.nodes[0].attrs, (std::map<std::string, std::string>{
                                  {"__lr_mult__", "2"}, {"__mirror_stage__", "1"}, {"__init__", "zeros"}}));
}

// ------------------------------------------------------------------ writer formatting

namespace {

Symbol batchnorm_graph() {
  Symbol s;
  s.nodes = {
      {"null", "data", {{"__shape__", "(1, 2)"}}, {}},
      {"null", "bn_gamma", {}, {}},
      {"null", "bn_beta", {}, {}},
      {"null", "bn_moving_mean", {}, {}},
      {"null", "bn_moving_var", {}, {}},
      {"BatchNorm", "bn", {{"fix_gamma", "False"}, {"eps", "0.001"}},
       {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 1}, {4, 0, 1}}},
      {"Activation", "act", {{"act_type", "relu"}}, {{5, 0, 0}}},
  };
  s.arg_nodes = {0, 1, 2, 3, 4};
  s.heads = {{6, 0, 0}};
  return s;
}

// Written by hand from formats-mxnet.md 7.7: every line inside a multi-line scope ends in ", "
// (with its trailing space); maps of one entry and arrays of <= 10 plain values stay on one line;
// node attrs are sorted; BatchNorm counts 3 outputs in node_row_ptr; no final newline.
const std::string kBatchNormExpected = R"js({
  "nodes": [
    {
      "op": "null", 
      "name": "data", 
      "attrs": {"__shape__": "(1, 2)"}, 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "bn_gamma", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "bn_beta", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "bn_moving_mean", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "bn_moving_var", 
      "inputs": []
    }, 
    {
      "op": "BatchNorm", 
      "name": "bn", 
      "attrs": {
        "eps": "0.001", 
        "fix_gamma": "False"
      }, 
      "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 1], [4, 0, 1]]
    }, 
    {
      "op": "Activation", 
      "name": "act", 
      "attrs": {"act_type": "relu"}, 
      "inputs": [[5, 0, 0]]
    }
  ], 
  "arg_nodes": [0, 1, 2, 3, 4], 
  "node_row_ptr": [0, 1, 2, 3, 4, 5, 8, 9], 
  "heads": [[6, 0, 0]], 
  "attrs": {"mxnet_version": ["int", 10600]}
})js";

Symbol concat_graph() {
  Symbol s;
  for (int i = 0; i < 11; ++i) {
    s.nodes.push_back({"null", "x" + std::to_string(i), {}, {}});
    s.arg_nodes.push_back(i);
  }
  SymNode cat{"Concat", "cat", {{"num_args", "11"}, {"dim", "1"}}, {}};
  for (int i = 0; i < 11; ++i) cat.inputs.push_back({i, 0, 0});
  s.nodes.push_back(cat);
  s.heads = {{11, 0, 0}};
  return s;
}

// Arrays of more than 10 elements go multi-line, one element per line.
const std::string kConcatExpected = R"({
  "nodes": [
    {
      "op": "null", 
      "name": "x0", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x1", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x2", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x3", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x4", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x5", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x6", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x7", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x8", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x9", 
      "inputs": []
    }, 
    {
      "op": "null", 
      "name": "x10", 
      "inputs": []
    }, 
    {
      "op": "Concat", 
      "name": "cat", 
      "attrs": {
        "dim": "1", 
        "num_args": "11"
      }, 
      "inputs": [
        [0, 0, 0], 
        [1, 0, 0], 
        [2, 0, 0], 
        [3, 0, 0], 
        [4, 0, 0], 
        [5, 0, 0], 
        [6, 0, 0], 
        [7, 0, 0], 
        [8, 0, 0], 
        [9, 0, 0], 
        [10, 0, 0]
      ]
    }
  ], 
  "arg_nodes": [
    0, 
    1, 
    2, 
    3, 
    4, 
    5, 
    6, 
    7, 
    8, 
    9, 
    10
  ], 
  "node_row_ptr": [
    0, 
    1, 
    2, 
    3, 
    4, 
    5, 
    6, 
    7, 
    8, 
    9, 
    10, 
    11, 
    12
  ], 
  "heads": [[11, 0, 0]], 
  "attrs": {"mxnet_version": ["int", 10300]}
})";

}  // namespace

TEST(MxnetSymbol, WriterMatchesHandWrittenLayout) {
  ASSERT_NE(kBatchNormExpected.find(", \n"), std::string::npos) << "expected text lost its trailing spaces";
  EXPECT_EQ(write_symbol(batchnorm_graph(), 10600), kBatchNormExpected);
}

TEST(MxnetSymbol, WriterPutsLongArraysOnSeveralLines) {
  ASSERT_NE(kConcatExpected.find(", \n"), std::string::npos) << "expected text lost its trailing spaces";
  EXPECT_EQ(write_symbol(concat_graph()), kConcatExpected);
}

TEST(MxnetSymbol, WriterAttrDialectOnlyRenamesNodeKey) {
  std::string expected = kBatchNormExpected;
  for (const char* from : {"\"attrs\": {\"__shape", "\"attrs\": {\n", "\"attrs\": {\"act"}) {
    size_t at = expected.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    expected.replace(at, 7, "\"attr\"");
  }
  expected.replace(expected.find("10600"), 5, "1100");
  EXPECT_EQ(write_symbol(batchnorm_graph(), 1100, "attr"), expected);
}

TEST(MxnetSymbol, WriterEscapesStringsLikeDmlc) {
  Symbol s;
  s.nodes = {{"null", "a\"b\\c\td", {{"__init__", "[\"one\", {}]"}}, {}}};
  s.arg_nodes = {0};
  s.heads = {{0, 0, 0}};
  std::string out = write_symbol(s);
  EXPECT_NE(out.find(R"("name": "a\"b\\c\td")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("attrs": {"__init__": "[\"one\", {}]"})"), std::string::npos) << out;
  expect_same_graph(parse_symbol(out, "esc"), s);
}

TEST(MxnetSymbol, WriterRejectsBadRequests) {
  Symbol g = batchnorm_graph();
  auto kind_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Io;  // stands for "no error"
  };
  EXPECT_EQ(kind_of([&] { write_symbol(g, 10600, "param"); }), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of([&] { write_symbol(g, 10600, "json"); }), ErrorKind::Usage);
  Symbol ctrl = g;
  ctrl.nodes[0].name = "da\x01ta";
  EXPECT_EQ(kind_of([&] { write_symbol(ctrl); }), ErrorKind::Unsupported);
  Symbol forward = g;
  forward.nodes[5].inputs[0].node = 6;
  EXPECT_EQ(kind_of([&] { write_symbol(forward); }), ErrorKind::Malformed);
  Symbol arg_op = g;
  arg_op.arg_nodes.push_back(5);
  EXPECT_EQ(kind_of([&] { write_symbol(arg_op); }), ErrorKind::Malformed);
}

TEST(MxnetSymbol, NodeRowPtrCountsOutputs) {
  EXPECT_EQ(op_num_outputs({"BatchNorm", "bn", {}, {}}), 3);
  EXPECT_EQ(op_num_outputs({"Dropout", "d", {}, {}}), 2);
  EXPECT_EQ(op_num_outputs({"SliceChannel", "s", {{"num_outputs", "4"}}, {}}), 4);
  EXPECT_EQ(op_num_outputs({"split", "s", {{"num_outputs", "2"}}, {}}), 2);
  EXPECT_EQ(op_num_outputs({"RNN", "r", {{"mode", "lstm"}, {"state_outputs", "True"}}, {}}), 3);
  EXPECT_EQ(op_num_outputs({"RNN", "r", {{"mode", "gru"}, {"state_outputs", "True"}}, {}}), 2);
  EXPECT_EQ(op_num_outputs({"RNN", "r", {{"mode", "lstm"}}, {}}), 1);
  EXPECT_EQ(op_num_outputs({"FullyConnected", "fc", {}, {}}), 1);
  EXPECT_EQ(op_num_outputs({"null", "v", {}, {}}), 1);
  // An op the table does not know gets as many outputs as its consumers use.
  Symbol s;
  s.nodes = {{"null", "x", {}, {}}, {"MyMultiOut", "m", {}, {{0, 0, 0}}}, {"Activation", "a", {}, {{1, 2, 0}}}};
  s.arg_nodes = {0};
  s.heads = {{2, 0, 0}};
  EXPECT_NE(write_symbol(s).find("\"node_row_ptr\": [0, 1, 4, 5]"), std::string::npos);
}

// ------------------------------------------------------------------ rejections

TEST(MxnetSymbolReject, NotJsonReportsLine) {
  std::string msg = malformed_message("{\n  \"nodes\": [\n    {\"op\": \"null\",, }\n", "not valid JSON");
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
}

TEST(MxnetSymbolReject, MissingTopLevelKeys) {
  malformed_message(R"({"arg_nodes": [], "heads": []})", "missing required key \"nodes\"");
  malformed_message(R"({"nodes": [)" + kVar + R"(], "heads": [[0, 0, 0]]})", "missing required key \"arg_nodes\"");
  malformed_message(R"({"nodes": [)" + kVar + R"(], "arg_nodes": [0]})", "missing required key \"heads\"");
}

TEST(MxnetSymbolReject, MissingNodeKeys) {
  malformed_message(graph(R"({"name": "x", "inputs": []})", "0", "[0, 0, 0]"), "missing required key \"op\"");
  malformed_message(graph(R"({"op": "null", "inputs": []})", "0", "[0, 0, 0]"), "missing required key \"name\"");
  malformed_message(graph(R"({"op": "null", "name": "x"})", "0", "[0, 0, 0]"), "missing required key \"inputs\"");
}

TEST(MxnetSymbolReject, WrongTypes) {
  malformed_message("[1, 2]", "must be a JSON object");
  malformed_message(R"({"nodes": {}, "arg_nodes": [], "heads": []})", "nodes: must be an array");
  malformed_message(graph(R"({"op": 5, "name": "x", "inputs": []})", "0", "[0, 0, 0]"), "\"op\" must be a string");
  malformed_message(graph(R"({"op": "null", "name": "x", "inputs": "none"})", "0", "[0, 0, 0]"),
                    "\"inputs\" must be an array");
  malformed_message(graph(kVar, "\"0\"", "[0, 0, 0]"), "must be an integer");
  malformed_message(graph(kVar, "0", "[0, 0.5, 0]"), "must be an integer");
  malformed_message(graph(R"({"op": "null", "name": "x", "attrs": [], "inputs": []})", "0", "[0, 0, 0]"),
                    "\"attrs\" must be an object");
}

TEST(MxnetSymbolReject, EntryOutOfRange) {
  malformed_message(graph(kVar, "0", "[3, 0, 0]"), "out of range");
  malformed_message(graph(kVar + R"(, {"op": "relu", "name": "r", "inputs": [[9, 0, 0]]})", "0", "[1, 0, 0]"),
                    "refers to node 9, out of range");
  malformed_message(graph(kVar, "0", "[-1, 0, 0]"), "out of range");
}

TEST(MxnetSymbolReject, EntryPointingForwardOrToItself) {
  const std::string nodes = R"({"op": "relu", "name": "r", "inputs": [[1, 0, 0]]}, )" + kVar;
  std::string msg = malformed_message(graph(nodes, "1", "[0, 0, 0]"), "does not come before it");
  EXPECT_NE(msg.find("node 0 \"r\""), std::string::npos) << msg;
  malformed_message(graph(kVar + R"(, {"op": "relu", "name": "r", "inputs": [[1, 0, 0]]})", "0", "[1, 0, 0]"),
                    "does not come before it");
}

TEST(MxnetSymbolReject, EntryWrongLength) {
  malformed_message(graph(kVar + R"(, {"op": "relu", "name": "r", "inputs": [[0]]})", "0", "[1, 0, 0]"),
                    "must be [node, output] or [node, output, version]");
}

TEST(MxnetSymbolReject, OutputIndexBeyondNodeOutputs) {
  malformed_message(graph(kVar + R"(, {"op": "relu", "name": "r", "inputs": [[0, 1, 0]]})", "0", "[1, 0, 0]"),
                    "uses output 1 of node 0 \"x\", which has 1 output(s)");
  malformed_message(graph(kVar, "0", "[0, 1, 0]"), "head 0 uses output 1");
  // BatchNorm has 3 outputs: index 2 is fine, 3 is not.
  const std::string bn = kVar + R"(, {"op": "BatchNorm", "name": "bn", "inputs": [[0, 0, 0]]})";
  EXPECT_NO_THROW(parse_symbol(graph(bn, "0", "[1, 2, 0]"), "ok"));
  malformed_message(graph(bn, "0", "[1, 3, 0]"), "which has 3 output(s)");
  // An op weightbridge does not know is checked against the file's node_row_ptr when present.
  const std::string custom = kVar + R"(, {"op": "MyOp", "name": "m", "inputs": [[0, 0, 0]]})";
  EXPECT_NO_THROW(parse_symbol(graph(custom, "0", "[1, 1, 0]"), "ok"));
  malformed_message(graph(custom, "0", "[1, 1, 0]", R"(, "node_row_ptr": [0, 1, 2])"), "which has 1 output(s)");
}

TEST(MxnetSymbolReject, ArgNodeNotAVariable) {
  malformed_message(graph(kVar + R"(, {"op": "relu", "name": "r", "inputs": [[0, 0, 0]]})", "0, 1", "[1, 0, 0]"),
                    "not a variable");
  malformed_message(graph(kVar, "4", "[0, 0, 0]"), "arg_nodes: entry 4 is out of range");
  malformed_message(graph(kVar, "0, 0", "[0, 0, 0]"), "listed twice");
}

TEST(MxnetSymbolReject, VariableWithInputs) {
  malformed_message(graph(kVar + R"(, {"op": "null", "name": "y", "inputs": [[0, 0, 0]]})", "0, 1", "[1, 0, 0]"),
                    "a variable (op \"null\") has inputs");
}

TEST(MxnetSymbolReject, UnknownKeys) {
  malformed_message(graph(R"({"op": "null", "name": "x", "inputs": [], "bar": {}})", "0", "[0, 0, 0]"),
                    "node 0 \"x\": unknown key \"bar\"");
  malformed_message(graph(kVar, "0", "[0, 0, 0]", R"(, "extra": 1)"), "top level: unknown key \"extra\"");
}

TEST(MxnetSymbolReject, AttributeValueNotString) {
  malformed_message(graph(R"({"op": "null", "name": "x", "attrs": {"__dtype__": 0}, "inputs": []})", "0",
                          "[0, 0, 0]"),
                    "attribute \"__dtype__\" must be a string");
}

TEST(MxnetSymbolReject, ConflictingAttributeValues) {
  malformed_message(graph(R"({"op": "null", "name": "x", "attr": {"k": "1"}, "attrs": {"k": "2"}, "inputs": []})",
                          "0", "[0, 0, 0]"),
                    "attribute \"k\" has two values");
}

TEST(MxnetSymbolReject, DuplicateVariableNames) {
  malformed_message(graph(kVar + ", " + kVar, "0, 1", "[1, 0, 0]"), "variable name \"x\" is also used by node 0");
}

TEST(MxnetSymbolReject, DuplicateJsonKey) {
  malformed_message(graph(R"({"op": "null", "name": "x", "name": "y", "inputs": []})", "0", "[0, 0, 0]"),
                    "duplicate JSON key \"name\"");
}

TEST(MxnetSymbolReject, EmptyNodeList) { malformed_message(graph("", "", ""), "no nodes"); }

TEST(MxnetSymbolReject, AbsurdSizes) {
  const std::string huge(size_t{1} << 21, 'a');
  malformed_message(graph(R"({"op": "null", "name": "x", "attrs": {"__init__": ")" + huge + R"("}, "inputs": []})",
                          "0", "[0, 0, 0]"),
                    "more than the 1048576 allowed");
  malformed_message(graph(kVar, "0", "[0, 0, 4294967296]"), "out of range");
  malformed_message(std::string(100, '[') + std::string(100, ']'), "nests deeper than 64 levels");
}

TEST(MxnetSymbolReject, BadNodeRowPtrAndVersion) {
  malformed_message(graph(kVar, "0", "[0, 0, 0]", R"(, "node_row_ptr": [0, 1, 2])"), "node_row_ptr: must have 2");
  malformed_message(graph(kVar, "0", "[0, 0, 0]", R"(, "node_row_ptr": [0, 0])"), "no outputs");
  std::string text = graph(kVar, "0", "[0, 0, 0]");
  text.replace(text.find("[\"int\", 10600]"), 14, "[\"str\", \"1.6\"]");
  malformed_message(text, "mxnet_version must be [\"int\", V]");
}

TEST(MxnetSymbolReject, SubgraphsAreUnsupported) {
  try {
    parse_symbol(graph(R"({"op": "null", "name": "x", "inputs": [], "subgraphs": [{}]})", "0", "[0, 0, 0]"), "s.json");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(e.format().find("subgraphs"), std::string::npos) << e.format();
  }
}

// ------------------------------------------------------------------ attribute values

TEST(MxnetTuple, AcceptedForms) {
  const std::vector<std::pair<std::string, Shape>> cases = {
      {"(3, 3)", {3, 3}},         {"[3, 3]", {3, 3}},      {"(3,)", {3}},
      {"3", {3}},                 {"()", {}},              {"(32L, 1L, 3L, 3L)", {32, 1, 3, 3}},
      {"  ( 1 ,2 , 3 ) ", {1, 2, 3}}, {"(-1, 0)", {-1, 0}}, {"[ ]", {}},
      {"(6272L, 128L)", {6272, 128}}, {"-2", {-2}},        {"[0, 2, 3, 1]", {0, 2, 3, 1}},
  };
  for (const auto& [text, shape] : cases) {
    auto got = parse_tuple(text);
    ASSERT_TRUE(got.has_value()) << text;
    EXPECT_EQ(*got, shape) << text;
  }
  EXPECT_FALSE(parse_tuple("None").has_value());
  EXPECT_FALSE(parse_tuple(" None ").has_value());
}

TEST(MxnetTuple, RejectedForms) {
  for (const char* text : {"", "(", "(3, 3", "[3, 3)", "(3 3)", "(,)", "(3,,)", "(a, b)", "(None, 2)", "3.5",
                           "(1.0,)", "nan", "(+3)", "3LL", "((3))", "(99999999999999999999)"}) {
    try {
      parse_tuple(text);
      ADD_FAILURE() << "accepted \"" << text << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Malformed) << text;
      EXPECT_NE(e.format().find("invalid tuple"), std::string::npos) << e.format();
    }
  }
}

TEST(MxnetTuple, BoolsIntsAndFloats) {
  for (const char* t : {"True", "true", "TRUE", "1", " tRuE "}) EXPECT_TRUE(parse_bool(t)) << t;
  for (const char* t : {"False", "false", "FALSE", "0"}) EXPECT_FALSE(parse_bool(t)) << t;
  for (const char* t : {"yes", "", "2", "t", "None"}) EXPECT_THROW(parse_bool(t), Error) << t;
  EXPECT_EQ(parse_int("128"), 128);
  EXPECT_EQ(parse_int("-1"), -1);
  for (const char* t : {"", "12a", "1.0", "128L", "+1", "0x10", "99999999999999999999"})
    EXPECT_THROW(parse_int(t), Error) << t;
  EXPECT_DOUBLE_EQ(parse_float("0.001"), 0.001);
  EXPECT_DOUBLE_EQ(parse_float("1e-05"), 1e-05);
  EXPECT_DOUBLE_EQ(parse_float("-2"), -2.0);
  for (const char* t : {"", "abc", "1.0.0", "0.5f", "+1"}) EXPECT_THROW(parse_float(t), Error) << t;
  try {
    parse_bool("maybe");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Malformed);
    EXPECT_NE(e.format().find("maybe"), std::string::npos);
  }
}
