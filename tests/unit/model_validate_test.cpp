// Graph sanity (validate_model) and the two-file atomic commit.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/io.h"
#include "test_util.h"
#include "weightbridge/error.h"
#include "weightbridge/model.h"

using namespace wb;
using nlohmann::json;

namespace {

Node node(const std::string& name, const std::string& op, json attrs, std::vector<std::string> inputs) {
  Node n;
  n.name = name;
  n.op = op;
  n.attrs = std::move(attrs);
  n.inputs = std::move(inputs);
  return n;
}

Model conv_model(json overrides) {
  json conv = {{"rank", 2}, {"filters", 4}, {"kernel_size", {3, 3}}, {"strides", {1, 1}}, {"dilation", {1, 1}},
               {"groups", 1}, {"use_bias", false}, {"padding", "valid"}, {"data_format", "channels_last"},
               {"activation", "linear"}};
  for (auto& [k, v] : overrides.items()) conv[k] = v;
  Model m;
  m.nodes.push_back(node("in", "Input", {{"shape", {8, 8, 4}}, {"dtype", "float32"}}, {}));
  m.nodes.push_back(node("conv", "Conv", conv, {"in"}));
  m.outputs = {"conv"};
  return m;
}

// Runs validate_model and returns the Malformed message ("" when it passes).
std::string problem(const Model& m) {
  try {
    validate_model(m);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Malformed) << e.format();
    return e.format();
  }
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(ValidateModel, AcceptsAPlainConvolution) { EXPECT_EQ(problem(conv_model({})), ""); }

TEST(ValidateModel, RefusesCycleDanglingEdgeAndDuplicateNames) {
  Model self = conv_model({});
  self.nodes[1].inputs = {"conv"};
  EXPECT_NE(problem(self).find("cycle"), std::string::npos);

  Model later = conv_model({});
  later.nodes.push_back(node("relu", "Activation", {{"activation", "relu"}}, {"conv"}));
  later.nodes[1].inputs = {"relu"};  // uses a node that comes after it
  EXPECT_NE(problem(later).find("not an earlier layer"), std::string::npos);

  Model dangling = conv_model({});
  dangling.nodes[1].inputs = {"ghost"};
  EXPECT_NE(problem(dangling).find("'ghost'"), std::string::npos);

  Model dup = conv_model({});
  dup.nodes[1].name = "in";
  dup.outputs = {"in"};
  EXPECT_NE(problem(dup).find("duplicate layer name"), std::string::npos);

  Model out = conv_model({});
  out.outputs = {"nope"};
  EXPECT_NE(problem(out).find("'nope'"), std::string::npos);
}

TEST(ValidateModel, RefusesAbsurdConvolutionAttributes) {
  EXPECT_NE(problem(conv_model({{"kernel_size", {0, 3}}})).find("kernel_size"), std::string::npos);
  EXPECT_NE(problem(conv_model({{"strides", {1, 0}}})).find("strides"), std::string::npos);
  EXPECT_NE(problem(conv_model({{"dilation", {0, 0}}})).find("dilation"), std::string::npos);
  EXPECT_NE(problem(conv_model({{"filters", -4}})).find("filters"), std::string::npos);
  EXPECT_NE(problem(conv_model({{"groups", 3}})).find("does not divide filters"), std::string::npos);
  // 4 filters in 2 groups is fine, but 4 input channels... are fine too; 3 channels are not.
  Model m = conv_model({{"groups", 2}});
  EXPECT_EQ(problem(m), "");
  m.nodes[0].attrs["shape"] = {8, 8, 3};
  EXPECT_NE(problem(m).find("input channels"), std::string::npos);
  EXPECT_NE(problem(conv_model({{"kernel_size", "3"}})).find("kernel_size"), std::string::npos);
}

TEST(ValidateModel, RefusesAbsurdLayerAttributes) {
  auto with = [](Node n) {
    Model m;
    m.nodes.push_back(node("in", "Input", {{"shape", {3, 4}}}, {}));
    m.nodes.push_back(std::move(n));
    m.outputs = {m.nodes.back().name};
    return m;
  };
  EXPECT_NE(problem(with(node("d", "Dense", {{"units", -2}}, {"in"}))).find("units"), std::string::npos);
  EXPECT_NE(problem(with(node("d", "Dense", {{"units", 0}}, {"in"}))).find("units"), std::string::npos);
  EXPECT_NE(problem(with(node("p", "Pool", {{"rank", 1}, {"pool_size", {2}}, {"strides", {0}}}, {"in"}))).find("strides"),
            std::string::npos);
  EXPECT_NE(problem(with(node("p", "Permute", {{"dims", {1, 1}}}, {"in"}))).find("permutation"), std::string::npos);
  EXPECT_NE(problem(with(node("r", "Reshape", {{"target_shape", {-1, -1}}}, {"in"}))).find("-1"), std::string::npos);
  EXPECT_NE(problem(with(node("x", "Dropout", {{"rate", 1.5}}, {"in"}))).find("rate"), std::string::npos);
  EXPECT_NE(problem(with(node("z", "ZeroPadding", {{"rank", 1}, {"padding", {{-1, 0}}}}, {"in"}))).find("padding"),
            std::string::npos);
  EXPECT_NE(problem(with(node("e", "Embedding", {{"input_dim", 0}, {"output_dim", 4}}, {"in"}))).find("input_dim"),
            std::string::npos);
  Model bad_input;
  bad_input.nodes.push_back(node("in", "Input", {{"shape", {0, 4}}}, {}));
  EXPECT_NE(problem(bad_input).find("input shape"), std::string::npos);
}

TEST(ValidateModel, InferShapesSurvivesAbsurdAttributes) {
  // infer_shapes also runs on partly imported graphs: no division by zero, no int64 overflow.
  Model m = conv_model({{"strides", {0, 0}}});
  EXPECT_EQ(infer_shapes(m).count("conv"), 0u);
  Model big;
  big.nodes.push_back(node("in", "Input", {{"shape", {int64_t{1} << 40, int64_t{1} << 40}}}, {}));
  big.nodes.push_back(node("f", "Flatten", json::object(), {"in"}));
  EXPECT_EQ(infer_shapes(big).count("f"), 0u);
}

TEST(CommitAll, RenamesEveryFileOrNone) {
  const std::string d = wbtest::tmp_dir();
  const std::string a = d + "/m-0000.params", b = d + "/m-symbol.json";
  {
    std::ofstream(a) << "old params";
    std::ofstream(b) << "old symbol";
  }
  {
    AtomicFile fa(a), fb(b);
    fa.write(std::string("new params"));
    fb.write(std::string("new symbol"));
    commit_all({&fa, &fb});
  }
  EXPECT_EQ(read_all(a), "new params");
  EXPECT_EQ(read_all(b), "new symbol");
  for (const auto& e : std::filesystem::directory_iterator(d))
    EXPECT_EQ(e.path().filename().string().find(".wbtmp-"), std::string::npos) << e.path();
}

TEST(CommitAll, FailedSecondTargetLeavesTheOldPair) {
  const std::string d = wbtest::tmp_dir();
  const std::string a = d + "/m-0000.params", b = d + "/m-symbol.json";
  std::ofstream(a) << "old params";
  std::filesystem::create_directory(b);  // the second target cannot be replaced
  try {
    AtomicFile fa(a), fb(b);
    fa.write(std::string("new params"));
    fb.write(std::string("new symbol"));
    commit_all({&fa, &fb});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
  }
  EXPECT_EQ(read_all(a), "old params");
  for (const auto& e : std::filesystem::directory_iterator(d))
    EXPECT_EQ(e.path().filename().string().find(".wbtmp-"), std::string::npos) << e.path();
}

TEST(CommitAll, RenameFailureAfterTheFirstRestoresIt) {
  // The second rename fails (its temporary file is gone) after the first target was replaced:
  // the first target must be put back from the backup link, and no backup may remain.
  const std::string d = wbtest::tmp_dir();
  const std::string a = d + "/m-0000.params", b = d + "/m-symbol.json";
  std::ofstream(a) << "old params";
  AtomicFile fa(a), fb(b);
  fa.write(std::string("new params"));
  fb.write(std::string("new symbol"));
  fa.prepare();
  fb.prepare();
  std::filesystem::remove(fb.temp_path());
  EXPECT_THROW(commit_all({&fa, &fb}), Error);
  EXPECT_EQ(read_all(a), "old params");
  EXPECT_FALSE(std::filesystem::exists(b));
  for (const auto& e : std::filesystem::directory_iterator(d))
    EXPECT_EQ(e.path().filename().string().find(".wbtmp-"), std::string::npos) << e.path();
}
