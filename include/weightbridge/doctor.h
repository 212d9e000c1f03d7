// Findings about why a model will fail to load or will load and predict garbage.
#pragma once
#include <string>
#include <vector>

namespace wb {

struct Finding {
  std::string severity;  // error (will fail or give wrong results), warning (likely wrong), info
  std::string kind;      // dtype, naming, layout, batchnorm, rnn, ambiguity, metadata, weights, symbol
  std::string where;     // file, layer or tensor
  std::string message;
  std::string evidence;
  std::string fix;       // the command or option that resolves it
  std::string code = {}; // finer, stable name of the finding, never empty: kind/code is listed in
                         // README (doctor), e.g. batchnorm/fix-gamma, ambiguity/kernel-flip
};

struct DoctorReport {
  std::string target;  // the framework the checks assumed: keras, keras3 or mxnet
  std::vector<Finding> findings;
};

// Examines the model given by `files` (as for convert) and, when `into` is not empty, the
// model or architecture it is meant to be loaded into.
// `arch` (optional) is the architecture of a weights-only file, as convert's --arch.
// `to` (keras, keras3, mxnet or empty) is the framework the model is going to; when empty, the
// framework of `into`, else keras for an MXNet or Keras 0/1 source and mxnet for any other.
DoctorReport doctor(std::vector<std::string> files, const std::vector<std::string>& into,
                    const std::string& arch = {}, const std::string& to = {});

}  // namespace wb
