// Recognising input files by content and loading a Model from the files a user names.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "weightbridge/convert.h"

namespace wb {

enum class FileKind { KerasH5, KerasArchive, KerasJson, MxnetSymbol, MxnetParams, Unknown };
const char* file_kind_name(FileKind k);

// Looks at the first bytes (HDF5 signature, zip members, JSON keys, NDArray/npy magic).
FileKind detect_file(const std::string& path);

// Builds a Model from the given files (a Keras weights file with an optional model JSON, or an
// MXNet symbol + params pair); `arch` is an extra architecture file (--arch).
Model load_model(const std::vector<std::string>& paths, const std::optional<std::string>& arch,
                 const ImportOptions& opt);

// Writer identification of a Keras HDF5 file: framework (keras1, keras2, tf.keras, keras-mxnet, keras3).
std::string keras_framework(const keras::H5File& f);

}  // namespace wb
