// Option handling shared by the verbs that load a model (convert, run).
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "weightbridge/convert.h"
#include "weightbridge/error.h"
#include "weightbridge/verify.h"

namespace wbcli {

// --kernel-flip yes|no and --input-shape [NAME=]D1,D2,... (each given value) as ImportOptions.
wb::ImportOptions import_options(const std::string& kernel_flip, const std::vector<std::string>& input_shape,
                                 const std::string& flatten_order = {});

// Loading-policy options shared by the verbs that load models: --allow-missing, --ignore-extra,
// --skip-mismatch, --cast-dtype, --map FILE, --kernel-layout keras|mxnet.
struct PolicyOptions {
  wb::LoadPolicy policy;
  std::string map_file;
  std::string kernel_layout;  // --kernel-layout keras|mxnet ("" = decide from the file)
};
void add_policy_options(CLI::App* cmd, PolicyOptions& p);
void apply_policy(const PolicyOptions& p, wb::ImportOptions& io);

// A model input from a single .npy file (float or integer), as float32.
wb::Array read_input(const std::string& path);

// Runs f; an error it throws that names no file (a layer the exporter or the engine refuses, say)
// is reported against `file`, the model it concerns. Usage errors stay as they are.
template <class F>
auto about_file(const std::string& file, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (wb::Error& e) {
    if (e.kind() != wb::ErrorKind::Usage) e.in_file(file);
    throw;
  }
}

// Prints a verification result; returns true when it passed.
bool print_verify(const wb::VerifyResult& r, const wb::VerifyOptions& opt);

}  // namespace wbcli
