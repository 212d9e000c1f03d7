// weightbridge verify SRC... --against DST... [--input X.npy ...] [--seed N] [--atol A] [--rtol R]
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include "common.h"
#include "weightbridge/load.h"

namespace wbcli {

void setup_verify(CLI::App& app, int& exit_status) {
  struct Options {
    std::vector<std::string> src, dst, inputs;
    wb::VerifyOptions v;
    std::string kernel_flip, kernel_flip_against, flatten_order, flatten_order_against;
    std::vector<std::string> input_shape;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("verify", "Run two models on the same input and compare every output element");
  cmd->add_option("src", o->src, "Files of the first model")->required();
  cmd->add_option("--against", o->dst, "Files of the second model")->required();
  cmd->add_option("--input", o->inputs, "Input .npy (repeat for several inputs); default: a seeded random input");
  cmd->add_option("--seed", o->v.seed, "Seed of the random input (default 0)");
  cmd->add_option("--atol", o->v.atol, "Absolute tolerance (default 1e-5)");
  cmd->add_option("--rtol", o->v.rtol, "Relative tolerance (default 1e-5)");
  cmd->add_option("--kernel-flip", o->kernel_flip, "yes|no for a Keras 1 source");
  cmd->add_option("--kernel-flip-against", o->kernel_flip_against, "yes|no for a Keras 1 file given with --against");
  cmd->add_option("--input-shape", o->input_shape, "Input shape without batch, when the files do not say; NAME=D1,D2 for one input (repeatable)");
  cmd->add_option("--flatten-order", o->flatten_order, "channels_first|channels_last: Flatten feature order of the source when its metadata cannot tell");
  cmd->add_option("--flatten-order-against", o->flatten_order_against, "channels_first|channels_last: the same for the --against model");
  cmd->callback([o, &exit_status] {
    const wb::Model a = wb::load_model(o->src, std::nullopt, import_options(o->kernel_flip, o->input_shape, o->flatten_order));
    const wb::Model b = wb::load_model(o->dst, std::nullopt, import_options(o->kernel_flip_against, o->input_shape, o->flatten_order_against));
    std::vector<wb::Array> inputs;
    for (const auto& p : o->inputs) inputs.push_back(read_input(p));
    std::cout << fmt::format("a: {} {} ({})\nb: {} {} ({})\n", a.prov.framework, a.prov.version, a.prov.format,
                             b.prov.framework, b.prov.version, b.prov.format);
    wb::VerifyResult r = wb::verify_models(a, b, inputs, o->v);
    if (!o->inputs.empty()) {
      r.input_description.clear();
      for (const auto& p : o->inputs) r.input_description += (r.input_description.empty() ? "" : ", ") + p;
    }
    exit_status = print_verify(r, o->v) ? 0 : 1;
  });
}

}  // namespace wbcli
