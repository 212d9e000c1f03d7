// weightbridge run MODEL... --input X.npy [--input Y.npy ...] [-o OUT.npy ...] [--arch FILE]
//                  [--kernel-flip yes|no] [--input-shape D1,D2,...]
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include "common.h"
#include "core/io.h"
#include "weightbridge/engine.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"
#include "weightbridge/mxnet_params.h"
#include "weightbridge/npy.h"

namespace wbcli {
namespace {

struct RunOptions {
  std::vector<std::string> sources;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string arch;
  std::string kernel_flip;
  std::vector<std::string> input_shape;
  std::string flatten_order;
};

constexpr size_t kShownValues = 8;

void print_output(const std::string& name, const wb::Array& a) {
  std::string values;
  for (size_t i = 0; i < std::min(kShownValues, a.data.size()); ++i) values += fmt::format("{}{:.8g}", i ? " " : "", a.data[i]);
  if (a.data.size() > kShownValues) values += " ...";
  std::cout << fmt::format("output {}: shape {} float32\n  [{}]\n", name, wb::shape_str(a.shape), values);
}

void run(const RunOptions& o) {
  wb::Model m = wb::load_model(o.sources, o.arch.empty() ? std::nullopt : std::optional<std::string>(o.arch),
                               import_options(o.kernel_flip, o.input_shape, o.flatten_order));
  const wb::Engine engine(m);
  const auto& names = engine.input_names();
  if (o.inputs.size() != names.size())
    wb::fail(wb::ErrorKind::Usage, fmt::format("the model has {} input(s) but {} --input given", names.size(), o.inputs.size()));
  if (o.outputs.size() > m.outputs.size())
    wb::fail(wb::ErrorKind::Usage, fmt::format("the model has {} output(s) but {} -o given", m.outputs.size(), o.outputs.size()));
  for (const auto& out : o.outputs)
    for (const auto& in : o.inputs)
      if (wb::same_file(in, out)) wb::fail(wb::ErrorKind::Usage, "output would overwrite an input file", out);
  std::map<std::string, wb::Array> feed;
  for (size_t i = 0; i < names.size(); ++i) {
    feed[names[i]] = read_input(o.inputs[i]);
    std::cout << fmt::format("input {}: {} shape {}\n", names[i], o.inputs[i], wb::shape_str(feed[names[i]].shape));
  }
  const auto results = engine.run(feed);
  for (size_t i = 0; i < m.outputs.size(); ++i) {
    const wb::Array& y = results.at(m.outputs[i]);
    print_output(m.outputs[i], y);
    if (i < o.outputs.size()) {
      wb::npy::write_f32(o.outputs[i], y.shape, y.data);
      std::cout << "wrote " << o.outputs[i] << "\n";
    }
  }
}

}  // namespace

void setup_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run a model forward with the reference engine (float32, CPU)");
  cmd->footer(
      "Inputs are .npy arrays with the batch axis first (float32, float64, float16, int32 or int64; computed in "
      "float32), matched to the model's inputs in order. Each -o writes the next model output, in order, as a float32 "
      ".npy; every output's shape and first values are printed.");
  cmd->add_option("sources", o->sources, "Model files: a Keras .h5/.keras (+ model JSON), or MXNet -symbol.json + .params")->required();
  cmd->add_option("--input", o->inputs, "Input .npy (repeat for each model input, in order)")->required()->allow_extra_args(false);
  cmd->add_option("-o,--output", o->outputs, "Output .npy (repeat for the 2nd, 3rd... model output)")->allow_extra_args(false);
  cmd->add_option("--arch", o->arch, "Architecture for weights-only sources (Keras model JSON or .h5, MXNet symbol JSON)");
  cmd->add_option("--kernel-flip", o->kernel_flip, "yes|no: whether a Keras 1 file's conv kernels are Theano (flipped) kernels");
  cmd->add_option("--input-shape", o->input_shape, "Input shape without batch, e.g. 3,224,224, when the files do not say; NAME=3,224,224 for one input of several (repeatable)");
  cmd->add_option("--flatten-order", o->flatten_order, "channels_first|channels_last: Flatten feature order when the file's metadata cannot tell");
  cmd->callback([o] { about_file(o->sources.front(), [&] { run(*o); }); });
}

}  // namespace wbcli
