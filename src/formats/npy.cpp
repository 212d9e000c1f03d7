// .npy writer (format 1.0, float32); see weightbridge/npy.h for the byte layout.
#include "weightbridge/npy.h"

#include <fmt/format.h>

#include <cstring>

#include "core/io.h"
#include "weightbridge/error.h"

namespace wb::npy {

namespace {

std::string shape_tuple(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);  // Python's one-element tuple
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace

Bytes encode_f32(const Shape& shape, const std::vector<float>& values) {
  if (checked_numel(shape) != values.size())
    fail(ErrorKind::Usage, fmt::format("{} values for npy shape {}", values.size(), shape_str(shape)));
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  constexpr size_t kPreamble = 10;  // magic (6) + version (2) + u16 length
  const size_t total = (kPreamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - kPreamble - header.size() - 1, ' ');
  header += '\n';
  if (header.size() > 0xFFFF) fail(ErrorKind::Usage, "npy header too long (rank too high)");
  Bytes out(total + 4 * values.size());
  static constexpr uint8_t kMagicV1[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(out.data(), kMagicV1, sizeof kMagicV1);
  out[8] = static_cast<uint8_t>(header.size() & 0xFF);
  out[9] = static_cast<uint8_t>(header.size() >> 8);
  std::memcpy(out.data() + kPreamble, header.data(), header.size());
  uint8_t* p = out.data() + total;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(bits >> (8 * i));
  }
  return out;
}

void write_f32(const std::string& path, const Shape& shape, const std::vector<float>& values) {
  const Bytes b = encode_f32(shape, values);
  AtomicFile f(path);
  f.write(b);
  f.commit();
}

}  // namespace wb::npy
