// Element types weightbridge understands, with their codes in each file format.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace wb {

enum class DType : uint8_t { F32, F64, F16, BF16, U8, I8, I16, U16, I32, U32, I64, U64, Bool };
inline constexpr int kDTypeCount = 13;

struct DTypeInfo {
  DType dtype;
  const char* name;      // numpy-style name: "float32", "bfloat16", ...
  size_t size_bytes;
  int mxnet_flag;        // mshadow type_flag, -1 when MXNet has none
  const char* npy_descr; // numpy descr, nullptr when numpy has none
  bool is_float;
};

const DTypeInfo& dtype_info(DType t);
inline size_t dtype_size(DType t) { return dtype_info(t).size_bytes; }
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_mxnet_flag(int flag);
std::optional<DType> dtype_from_name(const std::string& name);
std::optional<DType> dtype_from_npy_descr(const std::string& descr);

// Scalar conversions used by casts and the engine.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even; overflow -> inf
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);  // round to nearest even

}  // namespace wb
