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
};

// Examines the model given by `files` (as for convert) and, when `into` is not empty, the
// model or architecture it is meant to be loaded into.
// `arch` (optional) is the architecture of a weights-only file, as convert's --arch.
std::vector<Finding> doctor(std::vector<std::string> files, const std::vector<std::string>& into,
                            const std::string& arch = {});

}  // namespace wb
