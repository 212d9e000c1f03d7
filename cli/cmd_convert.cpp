// weightbridge convert SRC... --to mxnet|keras -o OUT [--arch FILE] [--dtype ...] [--kernel-flip yes|no]
#include <fmt/format.h>

#include <iostream>
#include <sstream>

#include "commands.h"
#include "core/io.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

namespace wbcli {
namespace {

struct ConvertOptions {
  std::vector<std::string> sources;
  std::string to;
  std::string out;
  std::string arch;
  std::string dtype = "keep";
  std::string kernel_flip;
  std::string input_shape;
  bool densify = false;
};

wb::Shape parse_shape(const std::string& s) {
  wb::Shape out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      out.push_back(v);
    } catch (const std::exception&) {
      wb::fail(wb::ErrorKind::Usage, "--input-shape must be positive integers separated by commas, e.g. 1,28,28");
    }
  }
  return out;
}

void apply_dtype(wb::Model& m, const std::string& dtype) {
  if (dtype == "keep") return;
  const auto t = wb::dtype_from_name(dtype);
  if (!t || !wb::dtype_info(*t).is_float) wb::fail(wb::ErrorKind::Usage, "--dtype must be keep, float32, float16, float64 or bfloat16");
  for (auto& n : m.nodes)
    for (auto& w : n.weights)
      if (wb::dtype_info(w.tensor.dtype).is_float && w.tensor.dtype != *t) {
        w.transform += std::string(w.transform.empty() ? "" : " + ") + "cast " + wb::dtype_name(w.tensor.dtype) + "->" + wb::dtype_name(*t);
        w.tensor = wb::cast(w.tensor, *t);
      }
}

void refuse_overwrite(const std::vector<std::string>& inputs, const std::string& out) {
  for (const auto& in : inputs)
    if (wb::same_file(in, out)) wb::fail(wb::ErrorKind::Usage, "output would overwrite an input file", out);
}

void run(const ConvertOptions& o) {
  if (o.to != "mxnet" && o.to != "keras") wb::fail(wb::ErrorKind::Usage, "--to must be mxnet or keras");
  wb::ImportOptions io;
  if (!o.kernel_flip.empty()) {
    if (o.kernel_flip != "yes" && o.kernel_flip != "no") wb::fail(wb::ErrorKind::Usage, "--kernel-flip takes yes or no");
    io.kernel_flip = o.kernel_flip == "yes";
  }
  if (!o.input_shape.empty()) io.input_shape = parse_shape(o.input_shape);
  io.densify = o.densify;
  std::vector<std::string> inputs = o.sources;
  if (!o.arch.empty()) inputs.push_back(o.arch);
  wb::Model m = wb::load_model(o.sources, o.arch.empty() ? std::nullopt : std::optional<std::string>(o.arch), io);
  apply_dtype(m, o.dtype);
  size_t n_tensors = 0;
  std::vector<std::string> written;
  if (o.to == "mxnet") {
    wb::MxnetExport ex = wb::export_mxnet(m);
    const std::string sym_path = o.out + "-symbol.json", params_path = o.out + "-0000.params";
    refuse_overwrite(inputs, sym_path);
    refuse_overwrite(inputs, params_path);
    // Both files are written in full to temporary names first and renamed together at the end,
    // the symbol last: a failure anywhere leaves the previous pair (or nothing) in place. Only a
    // crash between the two renames can leave a new params file beside an old symbol.
    wb::AtomicFile sym(sym_path), params(params_path);
    sym.write(wb::mxnet::write_symbol(ex.symbol));
    wb::mxnet::write_params(params, ex.params);
    wb::commit_all({&params, &sym});
    n_tensors = ex.params.size();
    written = {sym_path, params_path};
  } else {
    wb::KerasExport ex = wb::export_keras(m);
    refuse_overwrite(inputs, o.out);
    wb::keras::write_keras2_h5(o.out, ex.layers, ex.model_config.dump());
    for (const auto& l : ex.layers) n_tensors += l.weights.size();
    written = {o.out};
  }
  std::cout << fmt::format("source: {} {} {} ({} layers)\n", m.prov.framework, m.prov.version, m.prov.format, m.nodes.size());
  for (const auto& note : m.prov.notes) std::cout << "note: " << note << "\n";
  for (const auto& n : m.nodes)
    for (const auto& w : n.weights)
      std::cout << fmt::format("  {:<28} {:<16} {:<18} {:<8} {}\n", w.source, n.name + "." + w.role,
                               wb::shape_str(w.tensor.shape), wb::dtype_name(w.tensor.dtype),
                               w.transform.empty() ? "as is" : w.transform);
  for (const auto& p : written) std::cout << "wrote " << p << "\n";
  std::cout << fmt::format("{} tensors converted\n", n_tensors);
}

}  // namespace

void setup_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Convert a Keras model to MXNet or an MXNet model to Keras");
  cmd->add_option("sources", o->sources, "Source files: a Keras .h5/.keras (+ model JSON), or MXNet -symbol.json + .params")->required();
  cmd->add_option("--to", o->to, "Target framework: mxnet or keras")->required();
  cmd->add_option("-o,--output", o->out, "Output: a prefix for mxnet (PREFIX-symbol.json, PREFIX-0000.params), an .h5 for keras")->required();
  cmd->add_option("--arch", o->arch, "Architecture for weights-only sources (Keras model JSON or .h5, MXNet symbol JSON)");
  cmd->add_option("--dtype", o->dtype, "keep (default), float32, float16, float64, bfloat16");
  cmd->add_option("--kernel-flip", o->kernel_flip, "yes|no: whether a Keras 1 file's conv kernels are Theano (flipped) kernels");
  cmd->add_option("--input-shape", o->input_shape, "Input shape without batch, e.g. 3,224,224 (when the files do not say)");
  cmd->add_flag("--densify", o->densify, "Read MXNet sparse (row_sparse/csr) parameters as dense arrays");
  cmd->callback([o] { run(*o); });
}

}  // namespace wbcli
