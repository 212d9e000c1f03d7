#include "weightbridge/dtype.h"

#include <array>
#include <cstring>

namespace wb {
namespace {

// Order must follow enum DType; checked below.
constexpr std::array<DTypeInfo, kDTypeCount> kDTypes = {{
    {DType::F32, "float32", 4, 0, "<f4", true},
    {DType::F64, "float64", 8, 1, "<f8", true},
    {DType::F16, "float16", 2, 2, "<f2", true},
    {DType::BF16, "bfloat16", 2, 12, nullptr, true},
    {DType::U8, "uint8", 1, 3, "|u1", false},
    {DType::I8, "int8", 1, 5, "|i1", false},
    {DType::I16, "int16", 2, 8, "<i2", false},
    {DType::U16, "uint16", 2, 9, "<u2", false},
    {DType::I32, "int32", 4, 4, "<i4", false},
    {DType::U32, "uint32", 4, 10, "<u4", false},
    {DType::I64, "int64", 8, 6, "<i8", false},
    {DType::U64, "uint64", 8, 11, "<u8", false},
    {DType::Bool, "bool", 1, 7, "|b1", false},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kDTypes.size(); ++i)
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kDTypes must list every DType in enum order");

}  // namespace

const DTypeInfo& dtype_info(DType t) { return kDTypes[static_cast<size_t>(t)]; }

std::optional<DType> dtype_from_mxnet_flag(int flag) {
  for (const auto& d : kDTypes)
    if (d.mxnet_flag == flag) return d.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_name(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  if (name == "half") return DType::F16;
  if (name == "float") return DType::F32;
  if (name == "double") return DType::F64;
  return std::nullopt;
}

std::optional<DType> dtype_from_npy_descr(const std::string& descr) {
  if (descr == "<b2") return DType::BF16;  // MXNet 2.0's private bfloat16 descriptor
  for (const auto& d : kDTypes) {
    if (!d.npy_descr) continue;
    if (descr == d.npy_descr) return d.dtype;
    // single-byte types may be written with '<' or '=' instead of '|'
    if (d.size_bytes == 1 && descr.size() == 3 && (descr[0] == '<' || descr[0] == '=') &&
        descr.substr(1) == std::string(d.npy_descr).substr(1))
      return d.dtype;
  }
  return std::nullopt;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) { mant <<= 1; --exp; }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520
  if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (absx < 0x33000000u) return sign;
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // value / 2^-24 = m * 2^(e - 126)
    const uint32_t full = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    uint32_t r = full;
    if (rem > halfway || (rem == halfway && (full & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace wb
