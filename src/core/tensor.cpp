#include "weightbridge/tensor.h"

#include <openssl/evp.h>

#include <cstring>
#include <limits>

#include "weightbridge/error.h"

namespace wb {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

uint64_t checked_numel(const Shape& s) {
  constexpr uint64_t kMax = uint64_t{1} << 62;
  uint64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail(ErrorKind::Malformed, "negative dimension in shape " + shape_str(s));
    const auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && n > kMax / ud) fail(ErrorKind::Malformed, "shape " + shape_str(s) + " overflows");
    n *= ud;
  }
  return n;
}

uint64_t checked_nbytes(const Shape& s, DType t) {
  const uint64_t n = checked_numel(s);
  const uint64_t sz = dtype_size(t);
  if (n > (uint64_t{1} << 62) / sz) fail(ErrorKind::Malformed, "shape " + shape_str(s) + " overflows");
  return n * sz;
}

Tensor make_tensor(std::string name, DType dtype, Shape shape, Bytes bytes) {
  if (checked_nbytes(shape, dtype) != bytes.size())
    fail(ErrorKind::Malformed, "tensor '" + name + "': byte size does not match shape");
  auto data = std::make_shared<const Bytes>(std::move(bytes));
  Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.load = [data] { return *data; };
  return t;
}

Tensor make_f32(std::string name, Shape shape, const std::vector<float>& values) {
  Bytes b(values.size() * 4);
  if (!values.empty()) std::memcpy(b.data(), values.data(), b.size());
  return make_tensor(std::move(name), DType::F32, std::move(shape), std::move(b));
}

Shape permute_shape(const Shape& s, const std::vector<int>& perm) {
  if (perm.size() != s.size())
    fail(ErrorKind::Unsupported, "permutation of rank " + std::to_string(perm.size()) +
                                     " applied to shape " + shape_str(s));
  Shape out(s.size());
  std::vector<bool> seen(s.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    const int p = perm[i];
    if (p < 0 || static_cast<size_t>(p) >= s.size() || seen[static_cast<size_t>(p)])
      fail(ErrorKind::Unsupported, "invalid axis permutation");
    seen[static_cast<size_t>(p)] = true;
    out[i] = s[static_cast<size_t>(p)];
  }
  return out;
}

namespace {

// Copies `in` to `out` permuted; T is an element-sized type. The innermost output axis is a
// strided loop; 2-D transposes go tile by tile so both sides stay in cache.
template <typename T>
void permute_typed(const uint8_t* in_bytes, uint8_t* out_bytes, const Shape& in_shape, const std::vector<int>& perm) {
  const T* in = reinterpret_cast<const T*>(in_bytes);
  T* out = reinterpret_cast<T*>(out_bytes);
  const size_t rank = in_shape.size();
  std::vector<uint64_t> in_stride(rank, 1);
  for (size_t i = rank; i-- > 1;) in_stride[i - 1] = in_stride[i] * static_cast<uint64_t>(in_shape[i]);
  Shape out_shape(rank);
  std::vector<uint64_t> walk(rank);
  for (size_t i = 0; i < rank; ++i) {
    out_shape[i] = in_shape[static_cast<size_t>(perm[i])];
    walk[i] = in_stride[static_cast<size_t>(perm[i])];
  }
  if (rank == 2 && perm[0] == 1) {
    const uint64_t rows = static_cast<uint64_t>(in_shape[0]), cols = static_cast<uint64_t>(in_shape[1]);
    constexpr uint64_t kTile = 64;
    for (uint64_t r0 = 0; r0 < rows; r0 += kTile)
      for (uint64_t c0 = 0; c0 < cols; c0 += kTile)
        for (uint64_t c = c0; c < std::min(c0 + kTile, cols); ++c)
          for (uint64_t r = r0; r < std::min(r0 + kTile, rows); ++r) out[c * rows + r] = in[r * cols + c];
    return;
  }
  const uint64_t inner = static_cast<uint64_t>(out_shape[rank - 1]);
  const uint64_t inner_walk = walk[rank - 1];
  const uint64_t outer = inner ? checked_numel(out_shape) / inner : 0;
  std::vector<int64_t> idx(rank, 0);
  uint64_t src = 0;
  for (uint64_t o = 0; o < outer; ++o) {
    T* dst = out + o * inner;
    for (uint64_t j = 0; j < inner; ++j) dst[j] = in[src + j * inner_walk];
    for (size_t ax = rank - 1; ax-- > 0;) {  // odometer over the outer output axes
      if (++idx[ax] < out_shape[ax]) {
        src += walk[ax];
        break;
      }
      src -= walk[ax] * static_cast<uint64_t>(out_shape[ax] - 1);
      idx[ax] = 0;
    }
  }
}

}  // namespace

Bytes permute_bytes(const Bytes& in, const Shape& in_shape, size_t elem_size, const std::vector<int>& perm) {
  permute_shape(in_shape, perm);  // validates the permutation
  Bytes out(in.size());
  if (in.empty() || in_shape.empty()) {
    out = in;
    return out;
  }
  switch (elem_size) {
    case 1: permute_typed<uint8_t>(in.data(), out.data(), in_shape, perm); break;
    case 2: permute_typed<uint16_t>(in.data(), out.data(), in_shape, perm); break;
    case 4: permute_typed<uint32_t>(in.data(), out.data(), in_shape, perm); break;
    case 8: permute_typed<uint64_t>(in.data(), out.data(), in_shape, perm); break;
    default: fail(ErrorKind::Unsupported, "element size " + std::to_string(elem_size) + " cannot be permuted");
  }
  return out;
}

Tensor permuted(const Tensor& src, const std::vector<int>& perm, std::string new_name) {
  Tensor t;
  t.name = new_name.empty() ? src.name : std::move(new_name);
  t.dtype = src.dtype;
  t.shape = permute_shape(src.shape, perm);
  auto load = src.load;
  Shape in_shape = src.shape;
  const size_t es = dtype_size(src.dtype);
  t.load = [load, in_shape, es, perm] { return permute_bytes(load(), in_shape, es, perm); };
  return t;
}

Tensor reshaped(const Tensor& src, Shape new_shape, std::string new_name) {
  if (checked_numel(new_shape) != checked_numel(src.shape))
    fail(ErrorKind::Unsupported, "cannot reshape " + shape_str(src.shape) + " to " + shape_str(new_shape));
  Tensor t = src;
  if (!new_name.empty()) t.name = std::move(new_name);
  t.shape = std::move(new_shape);
  return t;
}

namespace {

template <typename T>
T load_as(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

double element_f64(const uint8_t* p, DType t) {
  switch (t) {
    case DType::F32: return load_as<float>(p);
    case DType::F64: return load_as<double>(p);
    case DType::F16: return half_to_float(load_as<uint16_t>(p));
    case DType::BF16: return bf16_to_float(load_as<uint16_t>(p));
    case DType::U8: return *p;
    case DType::I8: return static_cast<int8_t>(*p);
    case DType::I16: return load_as<int16_t>(p);
    case DType::U16: return load_as<uint16_t>(p);
    case DType::I32: return load_as<int32_t>(p);
    case DType::U32: return load_as<uint32_t>(p);
    case DType::I64: return static_cast<double>(load_as<int64_t>(p));
    case DType::U64: return static_cast<double>(load_as<uint64_t>(p));
    case DType::Bool: return *p ? 1.0 : 0.0;
  }
  return 0;
}

template <typename T>
void store(uint8_t* p, T v) { std::memcpy(p, &v, sizeof(T)); }

void store_element(uint8_t* p, DType t, double v) {
  switch (t) {
    case DType::F32: store(p, static_cast<float>(v)); break;
    case DType::F64: store(p, v); break;
    case DType::F16: store(p, float_to_half(static_cast<float>(v))); break;
    case DType::BF16: store(p, float_to_bf16(static_cast<float>(v))); break;
    case DType::U8: *p = static_cast<uint8_t>(v); break;
    case DType::I8: *p = static_cast<uint8_t>(static_cast<int8_t>(v)); break;
    case DType::I16: store(p, static_cast<int16_t>(v)); break;
    case DType::U16: store(p, static_cast<uint16_t>(v)); break;
    case DType::I32: store(p, static_cast<int32_t>(v)); break;
    case DType::U32: store(p, static_cast<uint32_t>(v)); break;
    case DType::I64: store(p, static_cast<int64_t>(v)); break;
    case DType::U64: store(p, static_cast<uint64_t>(v)); break;
    case DType::Bool: *p = v != 0 ? 1 : 0; break;
  }
}

}  // namespace

std::vector<double> to_f64(const Bytes& b, DType t) {
  const size_t es = dtype_size(t);
  std::vector<double> out(b.size() / es);
  for (size_t i = 0; i < out.size(); ++i) out[i] = element_f64(b.data() + i * es, t);
  return out;
}

std::vector<float> to_f32(const Bytes& b, DType t) {
  const size_t es = dtype_size(t);
  std::vector<float> out(b.size() / es);
  if (t == DType::F32) {
    if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(element_f64(b.data() + i * es, t));
  return out;
}

Tensor cast(const Tensor& src, DType to) {
  if (src.dtype == to) return src;
  Tensor t = src;
  t.dtype = to;
  auto load = src.load;
  const DType from = src.dtype;
  t.load = [load, from, to] {
    const Bytes in = load();
    const size_t fs = dtype_size(from), ts = dtype_size(to);
    const size_t n = in.size() / fs;
    Bytes out(n * ts);
    for (size_t i = 0; i < n; ++i) {
      if (from == DType::F32 && to == DType::F16) {
        store(out.data() + i * 2, float_to_half(load_as<float>(in.data() + i * 4)));
      } else if (from == DType::F32 && to == DType::BF16) {
        store(out.data() + i * 2, float_to_bf16(load_as<float>(in.data() + i * 4)));
      } else {
        store_element(out.data() + i * ts, to, element_f64(in.data() + i * fs, from));
      }
    }
    return out;
  };
  return t;
}

std::string sha256_hex(const uint8_t* data, size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) != 1)
    fail(ErrorKind::Io, "sha256 computation failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace wb
