// Writing single .npy files (reading goes through wb::mxnet::read_params, container "npy").
//
// Format 1.0: "\x93NUMPY" | 0x01 0x00 | u16 little-endian header length | ASCII header
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with spaces and ended by
// '\n' so that magic + length + header is a multiple of 64 bytes | float32 little-endian, C order.
#pragma once
#include <string>
#include <vector>

#include "weightbridge/tensor.h"

namespace wb::npy {

// The complete file image; Usage error when values.size() != numel(shape).
Bytes encode_f32(const Shape& shape, const std::vector<float>& values);

// Writes the file atomically (temporary name, renamed into place).
void write_f32(const std::string& path, const Shape& shape, const std::vector<float>& values);

}  // namespace wb::npy
