#include "formats/hdf5_util.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <type_traits>

namespace wb::h5 {

static_assert(std::is_same_v<Id, hid_t>, "wb::h5::Id must be hid_t");
static_assert(std::is_same_v<int, herr_t>, "HDF5 close functions must return int");

namespace {

// Innermost description on HDF5's error stack (the most specific one).
herr_t keep_last_desc(unsigned, const H5E_error2_t* err, void* out) {
  if (err && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}

std::string take_hdf5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_last_desc, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg;
}

Handle checked(hid_t id, Handle::Closer closer, ErrorKind kind, const std::string& what,
               const std::string& file, const std::string& path) {
  if (id < 0) fail_h5(kind, what, file, path);
  return Handle(id, closer);
}

Handle type_copy(hid_t predefined) { return Handle(H5Tcopy(predefined), H5Tclose); }

Handle plist(hid_t cls) { return Handle(H5Pcreate(cls), H5Pclose); }

Handle intermediate_lcpl() {
  Handle lcpl = plist(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  return lcpl;
}

std::vector<std::string> split_path(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t slash = std::min(rel.find('/', start), rel.size());
    if (slash > start) parts.push_back(rel.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string describe_type(hid_t type) {
  const size_t size = H5Tget_size(type);
  const std::string bits = std::to_string(size * 8);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_STRING:
      return "string";
    case H5T_OPAQUE:
      return std::to_string(size) + "-byte opaque";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_REFERENCE:
      return "reference";
    case H5T_BITFIELD:
      return "bitfield";
    default:
      return "unknown HDF5 type";
  }
}

// An open attribute with its type and dataspace.
struct Attr {
  Handle attr, type, space;
  hssize_t count = 0;
  int rank = 0;
};

Attr open_attr(const Object& obj, const std::string& name) {
  Attr a;
  const std::string where = obj.path() + " attribute " + name;
  a.attr = checked(H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT), H5Aclose, ErrorKind::Malformed,
                   "cannot open attribute", obj.file(), where);
  a.type = checked(H5Aget_type(a.attr.id()), H5Tclose, ErrorKind::Malformed, "cannot read attribute type",
                   obj.file(), where);
  a.space = checked(H5Aget_space(a.attr.id()), H5Sclose, ErrorKind::Malformed,
                    "cannot read attribute dataspace", obj.file(), where);
  const H5S_class_t cls = H5Sget_simple_extent_type(a.space.id());
  a.rank = cls == H5S_SIMPLE ? H5Sget_simple_extent_ndims(a.space.id()) : 0;
  a.count = cls == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(a.space.id());
  if (a.rank < 0 || a.count < 0) fail_h5(ErrorKind::Malformed, "bad attribute dataspace", obj.file(), where);
  return a;
}

std::vector<std::string> read_vlen_strings(const Object& obj, const std::string& name, Attr& a) {
  Handle mem = type_copy(H5T_C_S1);
  H5Tset_size(mem.id(), H5T_VARIABLE);
  H5Tset_cset(mem.id(), H5Tget_cset(a.type.id()));
  std::vector<char*> ptrs(static_cast<size_t>(a.count), nullptr);
  // Strings HDF5 allocated are freed on every path, including a read that fails part-way.
  const auto reclaim = [&] {
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mem.id(), a.space.id(), H5P_DEFAULT, ptrs.data());
#else
    H5Dvlen_reclaim(mem.id(), a.space.id(), H5P_DEFAULT, ptrs.data());
#endif
  };
  if (H5Aread(a.attr.id(), mem.id(), ptrs.data()) < 0) {
    reclaim();
    fail_h5(ErrorKind::Malformed, "cannot read string attribute", obj.file(),
            obj.path() + " attribute " + name);
  }
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  reclaim();
  return out;
}

std::string unpad(const char* p, size_t size, H5T_str_t pad) {
  std::string s(p, size);
  if (pad == H5T_STR_NULLTERM) return s.substr(0, s.find('\0'));
  const char fill = pad == H5T_STR_SPACEPAD ? ' ' : '\0';
  while (!s.empty() && s.back() == fill) s.pop_back();
  return s;
}

std::vector<std::string> read_fixed_strings(const Object& obj, const std::string& name, Attr& a) {
  const size_t size = H5Tget_size(a.type.id());
  const auto n = static_cast<size_t>(a.count);
  if (size == 0 || n > (uint64_t{1} << 30) / size)
    fail(ErrorKind::Malformed, "string attribute too large", obj.file(), obj.path() + " attribute " + name);
  Handle mem(H5Tcopy(a.type.id()), H5Tclose);
  std::vector<char> buf(n * size);
  if (H5Aread(a.attr.id(), mem.id(), buf.data()) < 0)
    fail_h5(ErrorKind::Malformed, "cannot read string attribute", obj.file(),
            obj.path() + " attribute " + name);
  const H5T_str_t pad = H5Tget_strpad(a.type.id());
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(unpad(buf.data() + i * size, size, pad));
  return out;
}

Handle scalar_or_simple_space(const Shape& shape) {
  if (shape.empty()) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
}

void write_attr(const Object& obj, const std::string& name, hid_t type, const Handle& space,
                const void* data) {
  const std::string where = obj.path() + " attribute " + name;
  Handle a = checked(H5Acreate2(obj.id(), name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                     ErrorKind::Io, "cannot create attribute", obj.file(), where);
  if (data && H5Awrite(a.id(), type, data) < 0)
    fail_h5(ErrorKind::Io, "cannot write attribute", obj.file(), where);
}

Handle fixed_string_type(size_t size) {
  Handle t = type_copy(H5T_C_S1);
  H5Tset_size(t.id(), std::max<size_t>(size, 1));
  H5Tset_strpad(t.id(), H5T_STR_NULLPAD);
  H5Tset_cset(t.id(), H5T_CSET_ASCII);
  return t;
}

// IEEE binary16 (h5py's float16) or bfloat16 as a little-endian HDF5 float type.
Handle small_float_type(bool brain) {
  Handle t = type_copy(H5T_IEEE_F32LE);
  if (brain) {
    H5Tset_fields(t.id(), 15, 7, 8, 0, 7);
    H5Tset_size(t.id(), 2);
    H5Tset_ebias(t.id(), 127);
  } else {
    H5Tset_fields(t.id(), 15, 10, 5, 0, 10);
    H5Tset_size(t.id(), 2);
    H5Tset_ebias(t.id(), 15);
  }
  return t;
}

Handle int_type(size_t size, bool is_signed) {
  switch (size) {
    case 1:
      return type_copy(is_signed ? H5T_STD_I8LE : H5T_STD_U8LE);
    case 2:
      return type_copy(is_signed ? H5T_STD_I16LE : H5T_STD_U16LE);
    case 4:
      return type_copy(is_signed ? H5T_STD_I32LE : H5T_STD_U32LE);
    default:
      return type_copy(is_signed ? H5T_STD_I64LE : H5T_STD_U64LE);
  }
}

DType int_dtype(size_t size, bool is_signed) {
  switch (size) {
    case 1:
      return is_signed ? DType::I8 : DType::U8;
    case 2:
      return is_signed ? DType::I16 : DType::U16;
    case 4:
      return is_signed ? DType::I32 : DType::U32;
    default:
      return is_signed ? DType::I64 : DType::U64;
  }
}

// h5py stores numpy bool as an 8-bit enum {FALSE = 0, TRUE = 1}.
Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  const int8_t f = 0, tr = 1;
  H5Tenum_insert(t.id(), "FALSE", &f);
  H5Tenum_insert(t.id(), "TRUE", &tr);
  return t;
}

[[noreturn]] void unsupported_type(const Object& ds, const std::string& why) {
  fail(ErrorKind::Unsupported, "unsupported dataset element type: " + why, ds.file(), ds.path());
}

void map_float(const Object& ds, hid_t type, DataSpec& spec) {
  const size_t size = H5Tget_size(type);
  if (size == 4 || size == 8) {
    spec.dtype = size == 4 ? DType::F32 : DType::F64;
    spec.mem_type = type_copy(size == 4 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
    return;
  }
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  if (size != 2 || H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0)
    unsupported_type(ds, describe_type(type));
  const bool half = spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10;
  const bool brain = spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7;
  if (!half && !brain) unsupported_type(ds, "2-byte float with a non-IEEE bit layout");
  spec.dtype = half ? DType::F16 : DType::BF16;
  spec.mem_type = small_float_type(brain);
}

void map_opaque(const Object& ds, hid_t type, DataSpec& spec) {
  const size_t size = H5Tget_size(type);
  const std::optional<std::string> tag = read_string_attr(ds, "dtype");
  if (size == 2 && tag && *tag == "bfloat16") {
    spec.dtype = DType::BF16;
    spec.mem_type = Handle(H5Tcopy(type), H5Tclose);
    return;
  }
  unsupported_type(
      ds, std::to_string(size) + "-byte opaque" +
              (tag ? " with dtype attribute \"" + *tag + "\"" : " without a dtype=\"bfloat16\" attribute"));
}

void map_type(const Object& ds, hid_t type, DataSpec& spec) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      map_float(ds, type, spec);
      return;
    case H5T_INTEGER:
      if (size != 1 && size != 2 && size != 4 && size != 8) unsupported_type(ds, describe_type(type));
      spec.dtype = int_dtype(size, H5Tget_sign(type) != H5T_SGN_NONE);
      spec.mem_type = int_type(size, H5Tget_sign(type) != H5T_SGN_NONE);
      return;
    case H5T_ENUM:
      if (size != 1 || H5Tget_nmembers(type) != 2) unsupported_type(ds, describe_type(type));
      spec.dtype = DType::Bool;
      spec.mem_type = Handle(H5Tcopy(type), H5Tclose);
      return;
    case H5T_OPAQUE:
      map_opaque(ds, type, spec);
      return;
    default:
      unsupported_type(ds, describe_type(type));
  }
}

// Data must live inside this file: external raw-data files and virtual datasets would make
// HDF5 read other files on this machine.
void check_storage(const Object& ds, DataSpec& spec) {
  Handle dcpl = checked(H5Dget_create_plist(ds.id()), H5Pclose, ErrorKind::Malformed,
                        "cannot read dataset creation properties", ds.file(), ds.path());
  const H5D_layout_t layout = H5Pget_layout(dcpl.id());
  if (layout == H5D_VIRTUAL || H5Pget_external_count(dcpl.id()) > 0)
    fail(ErrorKind::Unsupported, "dataset stores its data outside this file (external or virtual)", ds.file(),
         ds.path());
  spec.chunked = layout == H5D_CHUNKED;
}

// ---- global heap pre-check ------------------------------------------------------------------
//
// HDF5 1.10 parses a global heap collection (where variable-length strings live) in a loop that
// advances by each object's recorded size; an object with index 0 and size 0 makes it spin
// forever, and a size past the collection end makes it read beyond it. Before HDF5 sees a file,
// every collection in it ("GCOL", version 1, size >= 4096 inside the file) is walked here the
// same way and refused if the walk would not advance or would leave the collection.
// Layout (HDF5 file format spec III.E): "GCOL" | u8 version | 3 reserved | length collection size
// | objects: u16 index | u16 refcount | 4 reserved | length size | data padded to 8 bytes.
// Object 0 is the free space; its size covers its own header.
// The scan looks for the signature in the file's bytes, so it skips the raw data of datasets
// (their values may hold the same bytes): the file is opened first (HDF5 reads no global heap to
// open it or to list its datasets' storage) and each dataset's contiguous extent or chunks are
// excluded.

constexpr uint64_t kMinCollection = 4096;

// Size of lengths from the superblock (versions 0/1: byte 14, 2/3: byte 10 after the
// signature's start); 0 when unknown.
template <typename ReadAt>
unsigned lengths_size(uint64_t file_size, ReadAt read_at) {
  static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  uint8_t b[16];
  for (uint64_t off = 0; off + sizeof b <= file_size; off = off ? off * 2 : 512) {
    read_at(off, b, sizeof b);
    if (std::memcmp(b, sig, 8) != 0) continue;
    const unsigned len = b[8] <= 1 ? b[14] : b[10];
    return len == 2 || len == 4 || len == 8 ? len : 0;
  }
  return 0;
}

template <typename ReadAt>
void check_collection(uint64_t at, uint64_t file_size, unsigned len_size, ReadAt read_at, const std::string& file) {
  uint8_t head[16] = {};
  if (file_size - at < 8 + uint64_t{len_size}) return;
  read_at(at, head, 8 + len_size);
  if (head[4] != 1) return;
  uint64_t csize = 0;
  for (unsigned i = 0; i < len_size; ++i) csize |= uint64_t{head[8 + i]} << (8 * i);
  if (csize < kMinCollection || csize > file_size - at) return;  // not a collection HDF5 would load
  const uint64_t obj_head = 8 + len_size;
  const auto corrupt = [&](uint64_t p, const std::string& why) {
    fail(ErrorKind::Malformed,
         "damaged HDF5 global heap collection at offset " + std::to_string(at) + ": object at +" +
             std::to_string(p) + " " + why,
         file, "");
  };
  for (uint64_t p = 8 + len_size; p < csize;) {
    if (csize - p < obj_head) break;  // trailing bytes too small for an object: free space
    uint8_t o[16] = {};
    read_at(at + p, o, obj_head);
    const unsigned idx = o[0] | unsigned{o[1]} << 8;
    uint64_t size = 0;
    for (unsigned i = 0; i < len_size; ++i) size |= uint64_t{o[8 + i]} << (8 * i);
    if (size > csize) corrupt(p, "has size " + std::to_string(size) + " beyond the collection");
    const uint64_t need = idx > 0 ? obj_head + ((size + 7) & ~uint64_t{7}) : size;
    if (need == 0) corrupt(p, "has size 0 (HDF5 would loop forever)");
    if (need > csize - p) corrupt(p, "runs past the end of the collection");
    p += need;
  }
}

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // sorted [begin, end) byte ranges

// Where the datasets' values are stored: contiguous extents and allocated chunks.
Ranges raw_data_ranges(hid_t file) {
  Ranges out;
  auto visit = [](hid_t obj, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    if (info->type != H5O_TYPE_DATASET) return 0;
    auto& ranges = *static_cast<Ranges*>(data);
    Handle d(H5Dopen2(obj, name, H5P_DEFAULT), H5Dclose);
    if (d.id() < 0) return 0;
    const haddr_t off = H5Dget_offset(d.id());
    if (off != HADDR_UNDEF) {
      ranges.emplace_back(off, off + H5Dget_storage_size(d.id()));
      return 0;
    }
    Handle space(H5Dget_space(d.id()), H5Sclose);
    hsize_t chunks = 0;
    if (space.id() < 0 || H5Dget_num_chunks(d.id(), space.id(), &chunks) < 0) return 0;
    for (hsize_t i = 0; i < chunks && i < (hsize_t{1} << 24); ++i) {
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      unsigned mask = 0;
      if (H5Dget_chunk_info(d.id(), space.id(), i, nullptr, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF)
        ranges.emplace_back(addr, addr + size);
    }
    return 0;
  };
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &out);
  take_hdf5_message();  // a damaged object stops the listing, not the check
  std::sort(out.begin(), out.end());
  return out;
}

bool in_ranges(const Ranges& r, uint64_t at) {
  auto it = std::upper_bound(r.begin(), r.end(), std::make_pair(at, ~uint64_t{0}));
  if (it == r.begin()) return false;
  for (--it;; --it) {  // ranges may overlap: any range starting at or before `at`
    if (at < it->second) return true;
    if (it == r.begin()) return false;
  }
}

template <typename ReadAt>
void check_global_heaps(uint64_t file_size, ReadAt read_at, const std::string& file, const Ranges& raw) {
  const unsigned len_size = lengths_size(file_size, read_at);
  if (len_size == 0) return;  // HDF5 itself refuses such a superblock
  constexpr uint64_t kChunk = uint64_t{4} << 20;
  std::vector<uint8_t> buf;
  for (uint64_t start = 0; start < file_size; start += kChunk) {
    const uint64_t n = std::min<uint64_t>(kChunk + 3, file_size - start);  // 3 bytes overlap
    buf.resize(static_cast<size_t>(n));
    read_at(start, buf.data(), n);
    for (size_t i = 0; i + 4 <= buf.size(); ++i) {
      if (i >= kChunk) break;  // found by the next chunk
      if (buf[i] == 'G' && buf[i + 1] == 'C' && buf[i + 2] == 'O' && buf[i + 3] == 'L' && !in_ranges(raw, start + i))
        check_collection(start + i, file_size, len_size, read_at, file);
    }
  }
}

}  // namespace

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = -1;
}

bool Handle::close() {
  const bool ok = id_ < 0 || !closer_ || closer_(id_) >= 0;
  id_ = -1;
  return ok;
}

void fail_h5(ErrorKind kind, const std::string& what, const std::string& file, const std::string& path) {
  const std::string detail = take_hdf5_message();
  fail(kind, detail.empty() ? what : what + " (HDF5: " + detail + ")", file, path);
}

std::string Object::join(const std::string& rel) const {
  if (!rel.empty() && rel[0] == '/') return rel;
  return path_ == "/" ? "/" + rel : path_ + "/" + rel;
}

Kind Object::kind_of(const std::string& rel) const {
  const std::vector<std::string> parts = split_path(rel);
  if (parts.empty()) return Kind::Missing;
  std::string prefix = !rel.empty() && rel[0] == '/' ? "/" : "";
  for (const std::string& part : parts) {
    prefix += (prefix.empty() || prefix == "/" ? "" : "/") + part;
    const htri_t exists = H5Lexists(id(), prefix.c_str(), H5P_DEFAULT);
    if (exists <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return Kind::Missing;
    }
  }
  Handle obj(H5Oopen(id(), rel.c_str(), H5P_DEFAULT), H5Oclose);
  if (obj.id() < 0) {
    H5Eclear2(H5E_DEFAULT);
    return Kind::Missing;
  }
  switch (H5Iget_type(obj.id())) {
    case H5I_GROUP:
      return Kind::Group;
    case H5I_DATASET:
      return Kind::Dataset;
    default:
      return Kind::Other;
  }
}

Object Object::open_group(const std::string& rel) const {
  return Object(checked(H5Gopen2(id(), rel.c_str(), H5P_DEFAULT), H5Gclose, ErrorKind::Malformed,
                        "cannot open group", file_, join(rel)),
                file_, join(rel));
}

Object Object::open_dataset(const std::string& rel) const {
  return Object(checked(H5Dopen2(id(), rel.c_str(), H5P_DEFAULT), H5Dclose, ErrorKind::Malformed,
                        "cannot open dataset", file_, join(rel)),
                file_, join(rel));
}

std::vector<std::string> Object::children() const {
  H5G_info_t info{};
  if (H5Gget_info(id(), &info) < 0) fail_h5(ErrorKind::Malformed, "cannot list group", file_, path_);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) fail_h5(ErrorKind::Malformed, "cannot list group", file_, path_);
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    names.push_back(std::move(name));
  }
  return names;
}

bool Object::has_attr(const std::string& name) const {
  const htri_t r = H5Aexists(id(), name.c_str());
  if (r < 0) fail_h5(ErrorKind::Malformed, "cannot query attribute " + name, file_, path_);
  return r > 0;
}

Object Object::create_group(const std::string& rel) const {
  Handle lcpl = intermediate_lcpl();
  return Object(checked(H5Gcreate2(id(), rel.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                        ErrorKind::Io, "cannot create group", file_, join(rel)),
                file_, join(rel));
}

Object open_file(const std::string& path) {
  silence_errors();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(ErrorKind::Io, "cannot open: no such file", path);
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (f.id() < 0) fail_h5(ErrorKind::Malformed, "damaged or truncated HDF5 file", path, "");
  {
    std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!fp) fail(ErrorKind::Io, "cannot open", path);
    const auto size = static_cast<uint64_t>(st.st_size);
    check_global_heaps(size, [&](uint64_t off, void* dst, uint64_t n) {
      if (fseeko(fp.get(), static_cast<off_t>(off), SEEK_SET) != 0 ||
          std::fread(dst, 1, static_cast<size_t>(n), fp.get()) != n)
        fail(ErrorKind::Io, "read failed", path);
    }, path, raw_data_ranges(f.id()));
  }
  return Object(std::move(f), path, "/");
}

Object open_image(const Bytes& image, const std::string& name) {
  silence_errors();
  // Without H5LT_FILE_IMAGE_DONT_COPY the library copies the buffer and never writes to it.
  void* buf = const_cast<uint8_t*>(image.data());
  Handle f(H5LTopen_file_image(buf, image.size(), 0), H5Fclose);
  if (f.id() < 0) fail_h5(ErrorKind::Malformed, "damaged or truncated HDF5 image", name, "");
  check_global_heaps(image.size(), [&](uint64_t off, void* dst, uint64_t n) {
    std::memcpy(dst, image.data() + off, static_cast<size_t>(n));
  }, name, raw_data_ranges(f.id()));
  return Object(std::move(f), name, "/");
}

Object create_file(const std::string& path, const std::string& display_name) {
  silence_errors();
  Handle f(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (f.id() < 0) fail_h5(ErrorKind::Io, "cannot create HDF5 file", display_name, "");
  return Object(std::move(f), display_name, "/");
}

void close_file(Object& file) {
  if (!file.handle().close()) fail_h5(ErrorKind::Io, "cannot finish writing HDF5 file", file.file(), "");
}

uint64_t file_size(const Object& file) {
  hsize_t size = 0;
  if (H5Fget_filesize(file.id(), &size) < 0)
    fail_h5(ErrorKind::Malformed, "cannot get file size", file.file(), "");
  return size;
}

std::optional<std::vector<std::string>> read_string_list_attr(const Object& obj, const std::string& name) {
  if (!obj.has_attr(name)) return std::nullopt;
  Attr a = open_attr(obj, name);
  const H5T_class_t cls = H5Tget_class(a.type.id());
  if (a.rank > 1)
    fail(ErrorKind::Malformed,
         "attribute " + name + " is " + std::to_string(a.rank) +
             "-dimensional, expected a scalar or 1-D list of strings",
         obj.file(), obj.path());
  if (cls == H5T_FLOAT && a.count == 0) return std::vector<std::string>{};
  if (cls != H5T_STRING)
    fail(ErrorKind::Malformed,
         "attribute " + name + " is a " + describe_type(a.type.id()) + (a.rank == 1 ? " array" : " scalar") +
             ", expected strings",
         obj.file(), obj.path());
  const htri_t vlen = H5Tis_variable_str(a.type.id());
  if (vlen < 0) fail_h5(ErrorKind::Malformed, "cannot inspect attribute " + name, obj.file(), obj.path());
  return vlen ? read_vlen_strings(obj, name, a) : read_fixed_strings(obj, name, a);
}

std::optional<std::string> read_string_attr(const Object& obj, const std::string& name) {
  auto list = read_string_list_attr(obj, name);
  if (!list) return std::nullopt;
  if (list->size() != 1)
    fail(ErrorKind::Malformed,
         "attribute " + name + " holds " + std::to_string(list->size()) + " strings, expected one",
         obj.file(), obj.path());
  return list->front();
}

std::optional<int64_t> read_int_attr(const Object& obj, const std::string& name) {
  if (!obj.has_attr(name)) return std::nullopt;
  Attr a = open_attr(obj, name);
  if (H5Tget_class(a.type.id()) != H5T_INTEGER || a.count != 1)
    fail(ErrorKind::Malformed, "attribute " + name + " is not a single integer", obj.file(), obj.path());
  int64_t v = 0;
  if (H5Aread(a.attr.id(), H5T_NATIVE_INT64, &v) < 0)
    fail_h5(ErrorKind::Malformed, "cannot read attribute " + name, obj.file(), obj.path());
  return v;
}

void write_fixed_string_attr(const Object& obj, const std::string& name, const std::string& value) {
  Handle type = fixed_string_type(value.size());
  std::string buf = value;
  buf.resize(std::max<size_t>(value.size(), 1), '\0');
  write_attr(obj, name, type.id(), Handle(H5Screate(H5S_SCALAR), H5Sclose), buf.data());
}

void write_vlen_string_attr(const Object& obj, const std::string& name, const std::string& value) {
  Handle type = type_copy(H5T_C_S1);
  H5Tset_size(type.id(), H5T_VARIABLE);
  const bool ascii = std::all_of(value.begin(), value.end(), [](char c) { return (c & 0x80) == 0; });
  H5Tset_cset(type.id(), ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_attr(obj, name, type.id(), Handle(H5Screate(H5S_SCALAR), H5Sclose), &p);
}

void write_fixed_string_list_attr(const Object& obj, const std::string& name,
                                  const std::vector<std::string>& values) {
  size_t itemsize = 1;
  for (const auto& v : values) itemsize = std::max(itemsize, v.size());
  std::vector<char> buf(values.size() * itemsize, '\0');
  for (size_t i = 0; i < values.size(); ++i)
    std::copy(values[i].begin(), values[i].end(), buf.begin() + static_cast<std::ptrdiff_t>(i * itemsize));
  Handle type = fixed_string_type(itemsize);
  write_attr(obj, name, type.id(), scalar_or_simple_space({static_cast<int64_t>(values.size())}), buf.data());
}

void write_empty_f64_attr(const Object& obj, const std::string& name) {
  write_attr(obj, name, H5T_IEEE_F64LE, scalar_or_simple_space({0}), nullptr);
}

DataSpec inspect_dataset(const Object& ds) {
  Handle type = checked(H5Dget_type(ds.id()), H5Tclose, ErrorKind::Malformed, "cannot read dataset type",
                        ds.file(), ds.path());
  Handle space = checked(H5Dget_space(ds.id()), H5Sclose, ErrorKind::Malformed,
                         "cannot read dataset dataspace", ds.file(), ds.path());
  DataSpec spec;
  const H5S_class_t cls = H5Sget_simple_extent_type(space.id());
  if (cls == H5S_NULL)
    fail(ErrorKind::Unsupported, "dataset has a null dataspace (no data)", ds.file(), ds.path());
  if (cls == H5S_SIMPLE) {
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 0) fail_h5(ErrorKind::Malformed, "bad dataset dataspace", ds.file(), ds.path());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    for (hsize_t d : dims) {
      if (d > (hsize_t{1} << 62))
        fail(ErrorKind::Malformed, "dataset dimension too large", ds.file(), ds.path());
      spec.shape.push_back(static_cast<int64_t>(d));
    }
  }
  check_storage(ds, spec);
  map_type(ds, type.id(), spec);
  checked_nbytes(spec.shape, spec.dtype);
  return spec;
}

Bytes read_dataset(const Object& ds, const DataSpec& spec, uint64_t file_bytes) {
  const uint64_t nbytes = checked_nbytes(spec.shape, spec.dtype);
  // Compressed chunks cannot expand by more than deflate's ~1032:1 ratio.
  const uint64_t stored = spec.chunked ? H5Dget_storage_size(ds.id()) : 0;
  const uint64_t cap = spec.chunked ? stored * 1100 + (uint64_t{1} << 20) : file_bytes;
  if (nbytes > cap)
    fail(ErrorKind::Malformed,
         "dataset of shape " + shape_str(spec.shape) + " needs " + std::to_string(nbytes) +
             " bytes, more than the file can hold (" + std::to_string(cap) + ")",
         ds.file(), ds.path());
  Bytes out(nbytes);
  if (nbytes && H5Dread(ds.id(), spec.mem_type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_h5(ErrorKind::Malformed, "cannot read dataset", ds.file(), ds.path());
  return out;
}

Handle file_type_for(DType t) {
  switch (t) {
    case DType::F32:
      return type_copy(H5T_IEEE_F32LE);
    case DType::F64:
      return type_copy(H5T_IEEE_F64LE);
    case DType::F16:
      return small_float_type(false);
    case DType::BF16:
      fail(ErrorKind::Unsupported,
           "bfloat16 tensors cannot be written to a Keras 2 .h5 (Keras 2 cannot "
           "load them); cast to float32 first");
    case DType::Bool:
      return bool_type();
    default: {
      const DTypeInfo& info = dtype_info(t);
      const bool is_signed = t == DType::I8 || t == DType::I16 || t == DType::I32 || t == DType::I64;
      return int_type(info.size_bytes, is_signed);
    }
  }
}

Handle dataset_type(DType t, bool big_endian) {
  Handle type = file_type_for(t);
  if (big_endian && dtype_size(t) > 1) H5Tset_order(type.id(), H5T_ORDER_BE);
  return type;
}

void create_and_write(const Object& parent, const std::string& rel, const Handle& ftype, const Handle& mtype,
                      const Shape& shape, const Bytes& data) {
  const std::string where = parent.join(rel);
  Handle space = scalar_or_simple_space(shape);
  Handle lcpl = intermediate_lcpl();
  Handle ds = checked(
      H5Dcreate2(parent.id(), rel.c_str(), ftype.id(), space.id(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose, ErrorKind::Io, "cannot create dataset", parent.file(), where);
  if (!data.empty() && H5Dwrite(ds.id(), mtype.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    fail_h5(ErrorKind::Io, "cannot write dataset", parent.file(), where);
}

void write_dataset(const Object& parent, const std::string& rel, DType t, const Shape& shape,
                   const Bytes& data, bool big_endian) {
  if (data.size() != checked_nbytes(shape, t))
    fail(ErrorKind::Malformed, "tensor bytes do not match shape " + shape_str(shape), parent.file(),
         parent.join(rel));
  create_and_write(parent, rel, dataset_type(t, big_endian), file_type_for(t), shape, data);
}

void write_opaque_dataset(const Object& parent, const std::string& rel, size_t elem_size, const Shape& shape,
                          const Bytes& data) {
  if (elem_size == 0 || data.size() != checked_numel(shape) * elem_size)
    fail(ErrorKind::Malformed, "opaque bytes do not match shape " + shape_str(shape), parent.file(),
         parent.join(rel));
  Handle type(H5Tcreate(H5T_OPAQUE, elem_size), H5Tclose);
  Handle mem(H5Tcopy(type.id()), H5Tclose);
  create_and_write(parent, rel, type, mem, shape, data);
}

void write_numeric_attr(const Object& obj, const std::string& name, DType t, const Shape& shape,
                        const Bytes& data) {
  if (data.size() != checked_nbytes(shape, t))
    fail(ErrorKind::Malformed, "attribute bytes do not match shape " + shape_str(shape), obj.file(),
         obj.path());
  Handle type = file_type_for(t);
  write_attr(obj, name, type.id(), scalar_or_simple_space(shape), data.empty() ? nullptr : data.data());
}

AttrInfo attr_info(const Object& obj, const std::string& name) {
  Attr a = open_attr(obj, name);
  AttrInfo info;
  const hid_t t = a.type.id();
  info.type = describe_type(t);
  info.size = H5Tget_size(t);
  info.rank = a.rank;
  info.count = static_cast<uint64_t>(a.count);
  if (H5Tget_class(t) == H5T_STRING) {
    info.vlen = H5Tis_variable_str(t) > 0;
    info.nullpad = !info.vlen && H5Tget_strpad(t) == H5T_STR_NULLPAD;
    info.ascii = H5Tget_cset(t) == H5T_CSET_ASCII;
  }
  return info;
}

}  // namespace wb::h5
