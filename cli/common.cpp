#include "common.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "core/io.h"
#include "weightbridge/error.h"
#include "weightbridge/mxnet_params.h"

namespace wbcli {

namespace {

wb::Shape parse_shape(const std::string& s) {
  wb::Shape out;
  std::stringstream ss(s);
  std::string part;
  bool ok = !s.empty() && s.back() != ',';
  while (ok && std::getline(ss, part, ',')) {
    ok = !part.empty() && part.size() <= 12 && std::all_of(part.begin(), part.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (ok) out.push_back(std::stoll(part));
    ok = ok && out.back() > 0;
  }
  if (!ok || out.empty())
    wb::fail(wb::ErrorKind::Usage, "--input-shape takes positive integers separated by commas, e.g. 1,28,28 (got '" + s + "')");
  return out;
}

}  // namespace

wb::ImportOptions import_options(const std::string& kernel_flip, const std::vector<std::string>& input_shape,
                                 const std::string& flatten_order) {
  wb::ImportOptions io;
  if (!flatten_order.empty() && flatten_order != "channels_first" && flatten_order != "channels_last")
    wb::fail(wb::ErrorKind::Usage, "--flatten-order takes channels_first ((C, H, W) rows) or channels_last ((H, W, C) rows)");
  io.flatten_order = flatten_order;
  if (!kernel_flip.empty()) {
    if (kernel_flip != "yes" && kernel_flip != "no") wb::fail(wb::ErrorKind::Usage, "--kernel-flip takes yes or no");
    io.kernel_flip = kernel_flip == "yes";
  }
  for (const auto& spec : input_shape) {
    const auto eq = spec.rfind('=');  // dims never hold one: an input name may
    if (eq == std::string::npos) {
      if (io.input_shape) wb::fail(wb::ErrorKind::Usage, "--input-shape without a NAME= is given twice");
      io.input_shape = parse_shape(spec);
    } else if (eq == 0 || !io.input_shapes.emplace(spec.substr(0, eq), parse_shape(spec.substr(eq + 1))).second) {
      wb::fail(wb::ErrorKind::Usage, "--input-shape NAME=D1,D2,...: the name is empty or given twice: " + spec);
    }
  }
  return io;
}

wb::Array read_input(const std::string& path) {
  {
    auto src = wb::open_file_source(path);
    char magic[6] = {};
    if (src->size() >= 6) src->read_at(0, magic, 6);
    if (std::string(magic, 6) != "\x93NUMPY") wb::fail(wb::ErrorKind::Usage, "--input takes a .npy array file (no NumPy magic)", path);
  }
  const wb::mxnet::ParamsFile f = wb::mxnet::read_params(path);
  if (f.container != "npy")
    wb::fail(wb::ErrorKind::Usage, "--input takes a single .npy array (this is an " + f.container + " file)", path);
  const wb::Tensor t = wb::mxnet::record_tensor(f, 0);
  if (!wb::dtype_info(t.dtype).is_float && t.dtype != wb::DType::I32 && t.dtype != wb::DType::I64)
    wb::fail(wb::ErrorKind::Unsupported, std::string("input dtype ") + wb::dtype_name(t.dtype) +
                                             " (float, int32 or int64 arrays are accepted)", path);
  return wb::Array{t.shape, wb::to_f32(t.load(), t.dtype)};
}


void add_policy_options(CLI::App* cmd, PolicyOptions& p) {
  cmd->add_flag("--allow-missing", p.policy.allow_missing,
                "Fill a weight missing from the source with its initial value when that value is deterministic, else refuse");
  cmd->add_flag("--ignore-extra", p.policy.ignore_extra, "Leave out source tensors that have no place in the model (reported)");
  cmd->add_flag("--skip-mismatch", p.policy.skip_mismatch,
                "Skip a layer whose stored weights do not fit (it then counts as missing)");
  cmd->add_flag("--cast-dtype", p.policy.cast_dtype, "Cast weights to the dtype the architecture declares");
  cmd->add_option("--map", p.map_file, "JSON name mapping: {\"exact\": {old: new}, \"regex\": [[pattern, replacement]]}");
  cmd->add_option("--kernel-layout", p.kernel_layout,
                  "keras|mxnet: order of channels_first conv kernels in a Keras file without a backend attribute");
}

void apply_policy(const PolicyOptions& p, wb::ImportOptions& io) {
  io.policy = p.policy;
  if (!p.kernel_layout.empty()) {
    if (p.kernel_layout != "keras" && p.kernel_layout != "mxnet") wb::fail(wb::ErrorKind::Usage, "--kernel-layout takes keras or mxnet");
    io.mxnet_kernel_layout = p.kernel_layout == "mxnet";
  }
  if (!p.map_file.empty()) io.map = std::make_shared<wb::NameMap>(wb::NameMap::from_json_file(p.map_file));
}

bool print_verify(const wb::VerifyResult& r, const wb::VerifyOptions& opt) {
  std::cout << "input: " << r.input_description << "\n";
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
  for (const auto& c : r.outputs) {
    if (c.shape != c.shape_b) {
      std::cout << fmt::format("output {} vs {}: shapes differ, {} vs {} (OUTSIDE)\n", c.name_a, c.name_b,
                               wb::shape_str(c.shape), wb::shape_str(c.shape_b));
      continue;
    }
    std::cout << fmt::format("output {} vs {}: shape {}, max abs error {:.3g}, max rel error {:.3g} ({} atol {:g} + rtol {:g})\n",
                             c.name_a, c.name_b, wb::shape_str(c.shape), c.max_abs, c.max_rel,
                             c.within ? "within" : "OUTSIDE", opt.atol, opt.rtol);
    if (!c.within)
      std::cout << fmt::format("  worst element [{}]: a = {:.9g}, b = {:.9g}\n", c.worst_index, c.worst_a, c.worst_b);
  }
  if (!r.ok) {
    if (r.first_divergence.empty())
      std::cout << "first divergence: could not be localised (no layer of a has a same-named counterpart in b that differs)\n";
    else
      std::cout << fmt::format("first divergence: layer '{}' (max abs error {:.3g})\n", r.first_divergence, r.divergence_max_abs);
  }
  std::cout << (r.ok ? "verify: PASS\n" : "verify: FAIL\n");
  return r.ok;
}

}  // namespace wbcli
