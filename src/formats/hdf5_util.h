// A thin checked RAII layer over the HDF5 C API: every HDF5 identifier is owned by a Handle
// (closed by its destructor), every call is checked, and failures become wb::Error carrying the
// file name and the HDF5 object path. HDF5's own error printing is switched off once.
// This header does not include hdf5.h, so code (and tests) using it need no HDF5 include path.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weightbridge/error.h"
#include "weightbridge/tensor.h"

namespace wb::h5 {

using Id = int64_t;  // hid_t (checked against hdf5.h in the implementation)

// Turns off HDF5's automatic error printing (idempotent, cheap after the first call).
void silence_errors();

// Owns one HDF5 identifier and closes it with the matching H5xclose function.
class Handle {
 public:
  using Closer = int (*)(Id);
  Handle() = default;
  Handle(Id id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  Id id() const { return id_; }
  void reset();
  // Closes now and reports whether HDF5 accepted the close (needed for files being written).
  bool close();

 private:
  Id id_ = -1;
  Closer closer_ = nullptr;
};

// Throws wb::Error(kind, what + HDF5's innermost message, file, path) and clears HDF5's stack.
[[noreturn]] void fail_h5(ErrorKind kind, const std::string& what, const std::string& file,
                          const std::string& path);

enum class Kind { Missing, Group, Dataset, Other };

// A file, group or dataset with the names used in error messages.
class Object {
 public:
  Object(Handle h, std::string file, std::string path)
      : h_(std::move(h)), file_(std::move(file)), path_(std::move(path)) {}
  Id id() const { return h_.id(); }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  Handle& handle() { return h_; }
  std::string join(const std::string& rel) const;  // path of a relative name, for messages

  // Existence and type of a relative path; intermediate components are checked one at a time.
  Kind kind_of(const std::string& rel) const;
  Object open_group(const std::string& rel) const;
  Object open_dataset(const std::string& rel) const;
  // Link names of a group in HDF5 name order.
  std::vector<std::string> children() const;
  bool has_attr(const std::string& name) const;

  Object create_group(const std::string& rel) const;  // creates missing intermediate groups

 private:
  Handle h_;
  std::string file_, path_;
};

// Files. Not-HDF5 and damaged files throw Malformed; unreadable paths throw Io.
Object open_file(const std::string& path);
// The image is copied by HDF5; `name` is used in messages.
Object open_image(const Bytes& image, const std::string& name);
// Creates a new file (fails if it exists) with the default (earliest) format bounds.
Object create_file(const std::string& path, const std::string& display_name);
// Closes a file being written and throws Io when HDF5 cannot flush it.
void close_file(Object& file);
uint64_t file_size(const Object& file);

// String attributes of every encoding: fixed (NULLPAD/NULLTERM/SPACEPAD) or variable length,
// any cset, scalar or 1-D. An empty float attribute is an empty list. nullopt when absent.
std::optional<std::vector<std::string>> read_string_list_attr(const Object& obj, const std::string& name);
// A scalar (or one-element) string attribute.
std::optional<std::string> read_string_attr(const Object& obj, const std::string& name);
// A scalar (or one-element) integer attribute.
std::optional<int64_t> read_int_attr(const Object& obj, const std::string& name);

void write_fixed_string_attr(const Object& obj, const std::string& name, const std::string& value);
void write_vlen_string_attr(const Object& obj, const std::string& name, const std::string& value);
// A 1-D fixed-length NULLPAD ASCII array, itemsize = longest entry.
void write_fixed_string_list_attr(const Object& obj, const std::string& name,
                                  const std::vector<std::string>& values);
void write_empty_f64_attr(const Object& obj, const std::string& name);
// A numeric attribute (rank-0 shape = scalar); bytes little-endian as in Tensor.
void write_numeric_attr(const Object& obj, const std::string& name, DType t, const Shape& shape,
                        const Bytes& data);

// What an attribute looks like on disk (for checks and tests).
struct AttrInfo {
  std::string type;      // "string", "float64", "int32", ...
  bool vlen = false;     // variable-length string
  size_t size = 0;       // element size in bytes (fixed strings: STRSIZE)
  bool nullpad = false;  // fixed string padded with NULs
  bool ascii = false;    // ASCII character set
  int rank = 0;
  uint64_t count = 0;
};
AttrInfo attr_info(const Object& obj, const std::string& name);

// How a dataset's elements map to a weightbridge dtype, and how to read them little-endian.
struct DataSpec {
  DType dtype = DType::F32;
  Shape shape;
  bool chunked = false;
  Handle mem_type;  // memory type passed to H5Dread
};
DataSpec inspect_dataset(const Object& ds);
// Reads the whole dataset as little-endian C-order bytes; the size is checked against the file
// before allocating.
Bytes read_dataset(const Object& ds, const DataSpec& spec, uint64_t file_bytes);

// File type used when writing a dtype (little-endian IEEE/integers; float16 as a 2-byte IEEE
// half that h5py reads as numpy float16). Throws Unsupported for bfloat16.
Handle file_type_for(DType t);
// A contiguous dataset at a relative path (intermediate groups created). `data` is little-endian;
// with big_endian the file type is big-endian and HDF5 converts while writing.
void write_dataset(const Object& parent, const std::string& rel, DType t, const Shape& shape,
                   const Bytes& data, bool big_endian = false);
// A dataset of `elem_size`-byte opaque elements (how Keras 3 stores bfloat16), bytes as given.
void write_opaque_dataset(const Object& parent, const std::string& rel, size_t elem_size, const Shape& shape,
                          const Bytes& data);

}  // namespace wb::h5
