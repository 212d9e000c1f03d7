// Option handling shared by the verbs that load a model (convert, run).
#pragma once
#include <string>

#include "weightbridge/convert.h"

namespace wbcli {

// --kernel-flip yes|no and --input-shape D1,D2,... as ImportOptions ("" = not given).
wb::ImportOptions import_options(const std::string& kernel_flip, const std::string& input_shape);

}  // namespace wbcli
