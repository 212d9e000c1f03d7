#include "weightbridge/mxnet_params.h"

#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "core/io.h"
#include "formats/npz.h"

namespace wb::mxnet {
namespace {

constexpr uint64_t kListMagic = 0x112;
constexpr uint64_t kHdf5Signature = 0x0a1a0a0d46444889;  // "\x89HDF\r\n\x1a\n" read as LE u64
constexpr uint32_t kV1Magic = 0xF993FAC8;
constexpr uint32_t kV2Magic = 0xF993FAC9;
constexpr uint32_t kV3Magic = 0xF993FACA;
constexpr int64_t kMaxRank = 32;
constexpr int kDense = 0, kRowSparse = 1, kCsr = 2;
// A sparse array's logical size is not backed by file bytes; refuse to densify beyond this.
constexpr uint64_t kMaxDensifyBytes = uint64_t{1} << 34;

const char* stype_name(int stype) { return stype == kRowSparse ? "row_sparse" : "csr"; }

std::string record_label(size_t index, const std::string& name) {
  return name.empty() ? fmt::format("record {}", index) : fmt::format("record {} '{}'", index, name);
}

// ---- container recognition ------------------------------------------------------------------

enum class Container { List, Npz, Npy };

bool starts_with(const uint8_t* p, size_t n, const char* text) {
  const size_t len = std::strlen(text);
  return n >= len && std::memcmp(p, text, len) == 0;
}

Container sniff(const ByteSource& src) {
  uint8_t head[24] = {};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(src.size(), sizeof head));
  src.read_at(0, head, n);
  if (starts_with(head, n, "version https://git-lfs"))
    fail(ErrorKind::Malformed, "Git LFS pointer, not data (fetch the real file with 'git lfs pull')", src.name());
  // ZIP local file header / end of central directory (an empty archive).
  if (starts_with(head, n, "PK\x03\x04") || starts_with(head, n, "PK\x05\x06")) return Container::Npz;
  if (n >= sizeof npy::kMagic && std::memcmp(head, npy::kMagic, sizeof npy::kMagic) == 0) return Container::Npy;
  return Container::List;
}

// The leading printable ASCII of the file, when there is enough of it to look like text.
std::string text_prefix(const ByteSource& src) {
  char buf[32] = {};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(src.size(), sizeof buf));
  src.read_at(0, buf, n);
  size_t len = 0;
  while (len < n && buf[len] >= 0x20 && buf[len] < 0x7f && buf[len] != '\'') ++len;
  return len >= 4 ? std::string(buf, len) : std::string();
}

void check_list_magic(Cursor& cur) {
  const uint64_t magic = cur.u64("list magic");
  if (magic == kListMagic) return;
  std::string msg = fmt::format("bad magic {:#x} (expected 0x112); not an MXNet NDArray file", magic);
  const std::string text = text_prefix(cur.source());
  if (!text.empty()) msg += fmt::format("; file starts with '{}'", text);
  if (magic == kHdf5Signature) msg += "; the file is HDF5 (Keras weights?)";
  fail(ErrorKind::Malformed, msg, cur.source().name());
}

// ---- record fields --------------------------------------------------------------------------

struct ShapeField {
  Shape dims;
  bool unknown = false;  // V3 only: ndim -1 or a dim -1
};

// Legacy (pre-0.11) shape: the record's first u32 is ndim, then ndim x u32 dims.
Shape read_legacy_shape(Cursor& cur, uint32_t ndim) {
  if (ndim > kMaxRank)
    fail(ErrorKind::Malformed,
         fmt::format("ndim {} exceeds the maximum rank {} (first u32 {:#x} is no record magic either)", ndim,
                     kMaxRank, ndim), cur.source().name());
  cur.need(uint64_t{ndim} * 4, "legacy shape");
  Shape s(ndim);
  for (auto& d : s) d = cur.u32("legacy dim");
  return s;
}

// Modern shape: 4-byte ndim, then ndim x i64. Only V3 may use -1 (unknown).
ShapeField read_shape(Cursor& cur, bool v3, const char* what) {
  const int32_t ndim = cur.i32(what);
  ShapeField f;
  if (v3 && ndim == -1) {
    f.unknown = true;
    return f;
  }
  if (ndim < 0 || ndim > kMaxRank)
    fail(ErrorKind::Malformed,
         fmt::format("{} ndim {} is out of range (0..{})", what, v3 ? int64_t{ndim} : int64_t{static_cast<uint32_t>(ndim)},
                     kMaxRank), cur.source().name());
  cur.need(static_cast<uint64_t>(ndim) * 8, what);
  f.dims.resize(static_cast<size_t>(ndim));
  for (auto& d : f.dims) {
    d = cur.i64(what);
    if (v3 && d == -1) f.unknown = true;
    else if (d < 0) fail(ErrorKind::Malformed, fmt::format("{} has negative dimension {}", what, d), cur.source().name());
  }
  return f;
}

DType read_type_flag(Cursor& cur, const char* what) {
  const int32_t flag = cur.i32(what);
  const auto t = dtype_from_mxnet_flag(flag);
  if (!t) fail(ErrorKind::Malformed, fmt::format("unknown {} {}", what, flag), cur.source().name());
  return *t;
}

uint64_t nbytes_of(const Shape& s, DType t, const ByteSource& src) {
  try {
    return checked_nbytes(s, t);
  } catch (Error& e) {
    throw e.in_file(src.name());
  }
}

// Aux types and shapes (all of them precede the value payload).
void read_aux_meta(Cursor& cur, NDRecord& r) {
  const int nad = r.stype == kRowSparse ? 1 : 2;
  for (int i = 0; i < nad; ++i) {
    AuxArray a;
    a.dtype = read_type_flag(cur, "aux type_flag");
    if (dtype_info(a.dtype).is_float || a.dtype == DType::Bool)
      fail(ErrorKind::Malformed, fmt::format("aux array {} has non-integer dtype {}", i, dtype_name(a.dtype)),
           cur.source().name());
    a.shape = read_shape(cur, false, "aux shape").dims;
    r.aux.push_back(std::move(a));
  }
}

// Storage shape, logical shape and aux shapes must describe one sparse array.
void check_sparse_layout(const NDRecord& r, const std::string& file) {
  const auto bad = [&](const std::string& why) {
    fail(ErrorKind::Malformed, fmt::format("inconsistent {} array: {}", stype_name(r.stype), why), file);
  };
  const Shape& ss = r.storage_shape;
  if (r.stype == kRowSparse) {
    if (ss.size() != r.shape.size() || !std::equal(ss.begin() + 1, ss.end(), r.shape.begin() + 1))
      bad(fmt::format("storage shape {} does not match shape {}", shape_str(ss), shape_str(r.shape)));
    if (r.aux[0].shape != Shape{ss[0]}) bad(fmt::format("index shape {} for {} rows", shape_str(r.aux[0].shape), ss[0]));
    return;
  }
  if (r.shape.size() != 2) bad(fmt::format("shape {} is not 2-D", shape_str(r.shape)));
  if (ss.size() != 1) bad(fmt::format("storage shape {} is not 1-D", shape_str(ss)));
  const bool empty_indptr = ss[0] == 0 && r.aux[0].shape == Shape{0};
  if (r.aux[0].shape != Shape{r.shape[0] + 1} && !empty_indptr)
    bad(fmt::format("indptr shape {} for {} rows", shape_str(r.aux[0].shape), r.shape[0]));
  if (r.aux[1].shape != Shape{ss[0]}) bad(fmt::format("indices shape {} for {} values", shape_str(r.aux[1].shape), ss[0]));
}

// Context, type_flag, aux metadata, then payload and aux payloads, skipped after bounds checks.
void read_body(Cursor& cur, NDRecord& r, const std::shared_ptr<ByteSource>& src) {
  cur.skip(8, "context");
  r.dtype = read_type_flag(cur, "type_flag");
  nbytes_of(r.shape, r.dtype, *src);  // the logical size must be representable, sparse or not
  if (r.stype != kDense) {
    read_aux_meta(cur, r);
    check_sparse_layout(r, src->name());
  }
  r.nbytes = nbytes_of(r.stype == kDense ? r.shape : r.storage_shape, r.dtype, *src);
  r.offset = cur.pos();
  cur.skip(r.nbytes, "array payload");
  for (auto& a : r.aux) {
    const uint64_t n = nbytes_of(a.shape, a.dtype, *src);
    a.offset = cur.pos();
    cur.skip(n, "aux payload");
  }
  r.load_raw = [src, off = r.offset, n = r.nbytes] { return src->read_bytes(off, n); };
}

// V2/V3: stype, storage shape (sparse), shape, then the body unless the array is none.
void read_modern(Cursor& cur, NDRecord& r, const std::shared_ptr<ByteSource>& src) {
  const bool v3 = r.version == 3;
  r.stype = cur.i32("storage type");
  if (r.stype != kDense && r.stype != kRowSparse && r.stype != kCsr)
    fail(ErrorKind::Malformed, fmt::format("unknown storage type {}", r.stype), src->name());
  if (v3 && r.stype != kDense)
    fail(ErrorKind::Malformed, fmt::format("sparse ({}) storage in a V3 record; V3 records are dense only",
                                           stype_name(r.stype)), src->name());
  if (r.stype != kDense) r.storage_shape = read_shape(cur, false, "storage shape").dims;
  const ShapeField f = read_shape(cur, v3, "shape");
  r.shape = f.dims;
  r.none = v3 ? f.unknown : f.dims.empty();
  if (!r.none) read_body(cur, r, src);
}

NDRecord read_record(Cursor& cur, const std::shared_ptr<ByteSource>& src) {
  NDRecord r;
  const uint32_t m = cur.u32("record magic");
  if (m == kV2Magic || m == kV3Magic) {
    r.version = m == kV2Magic ? 2 : 3;
    read_modern(cur, r, src);
    return r;
  }
  if (m == kV1Magic) {
    r.version = 1;
    r.shape = read_shape(cur, false, "shape").dims;
  } else {
    r.version = 0;
    r.shape = read_legacy_shape(cur, m);
  }
  r.none = r.shape.empty();
  if (!r.none) read_body(cur, r, src);
  return r;
}

// ---- names ----------------------------------------------------------------------------------

void read_names(Cursor& cur, ParamsFile& pf) {
  const uint64_t k = cur.u64("name count");
  const uint64_t n = pf.records.size();
  if (k != 0 && k != n)
    fail(ErrorKind::Malformed, fmt::format("name count {} is neither 0 nor the array count {}", k, n), pf.path);
  pf.has_names = k != 0;
  for (uint64_t i = 0; i < k; ++i) {
    const uint64_t len = cur.u64(fmt::format("name {} length", i));
    pf.records[i].name = cur.str(len, fmt::format("name {}", i));
  }
}

void check_unique_names(const ParamsFile& pf) {
  if (!pf.has_names) return;
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < pf.records.size(); ++i) {
    const auto [it, fresh] = seen.emplace(pf.records[i].name, i);
    if (!fresh)
      fail(ErrorKind::Malformed, fmt::format("duplicate name '{}' (also record {})", it->first, it->second), pf.path,
           record_label(i, pf.records[i].name));
  }
}

ParamsFile read_list(std::shared_ptr<ByteSource> src) {
  ParamsFile pf;
  pf.path = src->name();
  pf.container = "ndarray-list";
  Cursor cur(*src);
  check_list_magic(cur);
  cur.skip(8, "reserved header field");
  const uint64_t n = cur.u64("array count");
  if (n > cur.remaining() / 4)  // every record takes at least 4 bytes
    fail(ErrorKind::Malformed, fmt::format("truncated: array count {} needs at least 4 bytes per array, {} available", n,
                     cur.remaining()), pf.path);
  pf.records.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    try {
      pf.records.push_back(read_record(cur, src));
    } catch (Error& e) {
      throw e.in_file(pf.path).add_context(record_label(static_cast<size_t>(i), ""));
    }
  }
  try {
    read_names(cur, pf);
  } catch (Error& e) {
    throw e.in_file(pf.path).add_context("names");
  }
  check_unique_names(pf);
  pf.source = std::move(src);
  return pf;
}

// ---- densify --------------------------------------------------------------------------------

// Integer aux values; unsigned values above INT64_MAX become -1 so that range checks reject them.
std::vector<int64_t> decode_indices(const Bytes& b, DType t) {
  const size_t size = dtype_size(t);
  const bool is_signed = t == DType::I8 || t == DType::I16 || t == DType::I32 || t == DType::I64;
  std::vector<int64_t> out(b.size() / size);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t v = 0;
    for (size_t k = 0; k < size; ++k) v |= uint64_t{b[i * size + k]} << (8 * k);
    if (is_signed && size < 8 && (v >> (8 * size - 1)) & 1) v |= ~uint64_t{0} << (8 * size);  // sign-extend
    out[i] = (!is_signed && v > static_cast<uint64_t>(INT64_MAX)) ? -1 : static_cast<int64_t>(v);
  }
  return out;
}

std::vector<int64_t> load_aux(const ByteSource& src, const AuxArray& a) {
  return decode_indices(src.read_bytes(a.offset, checked_nbytes(a.shape, a.dtype)), a.dtype);
}

Bytes densify_row_sparse(const ByteSource& src, const NDRecord& r, const std::string& where) {
  const Bytes values = r.load_raw();
  const std::vector<int64_t> rows = load_aux(src, r.aux[0]);
  const size_t row_bytes = static_cast<size_t>(checked_nbytes(Shape(r.shape.begin() + 1, r.shape.end()), r.dtype));
  Bytes dense(static_cast<size_t>(checked_nbytes(r.shape, r.dtype)), 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= r.shape[0] || (i > 0 && rows[i] <= rows[i - 1]))
      fail(ErrorKind::Malformed,
           fmt::format("row_sparse index {} at position {} is out of range or not increasing (rows: {})", rows[i], i,
                       r.shape[0]), src.name(), where);
    std::memcpy(dense.data() + static_cast<size_t>(rows[i]) * row_bytes, values.data() + i * row_bytes, row_bytes);
  }
  return dense;
}

void check_indptr(const std::vector<int64_t>& indptr, size_t nnz, const std::string& file, const std::string& where) {
  if (indptr.empty()) return;  // an all-zero array may store no indptr
  if (indptr.front() != 0 || indptr.back() != static_cast<int64_t>(nnz))
    fail(ErrorKind::Malformed, fmt::format("csr indptr must run from 0 to {}", nnz), file, where);
  for (size_t i = 1; i < indptr.size(); ++i)
    if (indptr[i] < indptr[i - 1]) fail(ErrorKind::Malformed, "csr indptr is decreasing", file, where);
}

Bytes densify_csr(const ByteSource& src, const NDRecord& r, const std::string& where) {
  const Bytes values = r.load_raw();
  const std::vector<int64_t> indptr = load_aux(src, r.aux[0]);
  const std::vector<int64_t> cols = load_aux(src, r.aux[1]);
  check_indptr(indptr, cols.size(), src.name(), where);
  const size_t item = dtype_size(r.dtype);
  Bytes dense(static_cast<size_t>(checked_nbytes(r.shape, r.dtype)), 0);
  for (size_t row = 0; row + 1 < indptr.size(); ++row) {
    for (auto k = static_cast<size_t>(indptr[row]); k < static_cast<size_t>(indptr[row + 1]); ++k) {
      if (cols[k] < 0 || cols[k] >= r.shape[1])
        fail(ErrorKind::Malformed, fmt::format("csr column index {} is out of range (columns: {})", cols[k], r.shape[1]),
             src.name(), where);
      const size_t at = row * static_cast<size_t>(r.shape[1]) + static_cast<size_t>(cols[k]);
      std::memcpy(dense.data() + at * item, values.data() + k * item, item);
    }
  }
  return dense;
}

// Column-major payload of shape s -> C order: it is C order of the reversed shape, transposed.
Bytes fortran_to_c(const Bytes& in, const Shape& s, DType t) {
  const Shape reversed(s.rbegin(), s.rend());
  std::vector<int> perm(s.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int>(perm.size() - 1 - i);
  return permute_bytes(in, reversed, dtype_size(t), perm);
}

// ---- writer ---------------------------------------------------------------------------------

void check_writable(const std::vector<Tensor>& tensors, const std::string& path) {
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string where = fmt::format("tensor {} '{}'", i, t.name);
    const int flag = dtype_info(t.dtype).mxnet_flag;
    if (flag < 0 || (flag >= 8 && flag <= 11))
      fail(ErrorKind::Unsupported,
           fmt::format("dtype {} cannot be stored in a .params file that MXNet 1.x loads", dtype_name(t.dtype)), path,
           where);
    if (t.shape.size() > static_cast<size_t>(kMaxRank))
      fail(ErrorKind::Unsupported, fmt::format("rank {} exceeds {}", t.shape.size(), kMaxRank), path, where);
    try {
      checked_nbytes(t.shape, t.dtype);
    } catch (Error& e) {
      throw e.in_file(path).add_context(where);
    }
    if (!seen.emplace(t.name, i).second)
      fail(ErrorKind::Unsupported, fmt::format("duplicate tensor name '{}'", t.name), path, where);
  }
}

// V2 dense header: magic, stype 0, shape, cpu(0), type_flag.
Bytes v2_header(const Tensor& t) {
  const Shape shape = t.shape.empty() ? Shape{1} : t.shape;
  Bytes b;
  put_u32(b, kV2Magic);
  put_i32(b, kDense);
  put_u32(b, static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) put_i64(b, d);
  put_i32(b, 1);  // dev_type cpu
  put_i32(b, 0);  // dev_id 0
  put_i32(b, dtype_info(t.dtype).mxnet_flag);
  return b;
}

}  // namespace

ParamsFile read_params(std::shared_ptr<ByteSource> src) {
  switch (sniff(*src)) {
    case Container::Npz: return read_npz_file(std::move(src));
    case Container::Npy: return read_npy_file(std::move(src));
    case Container::List: break;
  }
  return read_list(std::move(src));
}

ParamsFile read_params(const std::string& path) { return read_params(open_file_source(path)); }

Tensor record_tensor(const ParamsFile& file, size_t index, bool densify) {
  if (index >= file.records.size())
    fail(ErrorKind::Usage, fmt::format("no record {} ({} records)", index, file.records.size()), file.path);
  const NDRecord& r = file.records[index];
  const std::string where = record_label(index, r.name);
  if (r.none) fail(ErrorKind::Unsupported, "none array (no shape or data)", file.path, where);
  Tensor t;
  t.name = r.name;
  t.dtype = r.dtype;
  t.shape = r.shape;
  if (r.stype == kDense) {
    t.load = r.fortran_order ? Loader([r] { return fortran_to_c(r.load_raw(), r.shape, r.dtype); }) : r.load_raw;
    return t;
  }
  if (!densify)
    fail(ErrorKind::Unsupported, fmt::format("sparse ({}) array; use --densify to convert it", stype_name(r.stype)),
         file.path, where);
  if (checked_nbytes(r.shape, r.dtype) > kMaxDensifyBytes)
    fail(ErrorKind::Unsupported,
         fmt::format("densified {} would need {} bytes, more than the {} GiB limit of --densify", shape_str(r.shape),
                     checked_nbytes(r.shape, r.dtype), kMaxDensifyBytes >> 30),
         file.path, where);
  t.load = [src = file.source, r, where] {
    return r.stype == kRowSparse ? densify_row_sparse(*src, r, where) : densify_csr(*src, r, where);
  };
  return t;
}

namespace {

// The NDArray list layout, emitted through `put` one piece at a time (one tensor in memory).
template <typename Put>
void emit_list(const std::string& path, const std::vector<Tensor>& tensors, Put put) {
  check_writable(tensors, path);
  Bytes head;
  put_u64(head, kListMagic);
  put_u64(head, 0);
  put_u64(head, tensors.size());
  put(head);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const Bytes data = t.load();
    if (data.size() != checked_nbytes(t.shape, t.dtype))
      fail(ErrorKind::Malformed, fmt::format("loader returned {} bytes, expected {}", data.size(), t.nbytes()), path,
           fmt::format("tensor {} '{}'", i, t.name));
    put(v2_header(t));
    put(data);
  }
  Bytes names;
  put_u64(names, tensors.size());
  for (const Tensor& t : tensors) {
    put_u64(names, t.name.size());
    names.insert(names.end(), t.name.begin(), t.name.end());
  }
  put(names);
}

}  // namespace

void write_params(const std::string& path, const std::vector<Tensor>& tensors) {
  AtomicFile out(path);
  write_params(out, tensors);
  out.commit();
}

void write_params(AtomicFile& out, const std::vector<Tensor>& tensors) {
  emit_list(out.target(), tensors, [&](const Bytes& b) { out.write(b); });
}

Bytes write_params_image(const std::vector<Tensor>& tensors) {
  Bytes image;
  emit_list("(memory)", tensors, [&](const Bytes& b) { image.insert(image.end(), b.begin(), b.end()); });
  return image;
}

}  // namespace wb::mxnet
