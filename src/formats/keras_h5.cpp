#include "weightbridge/keras_h5.h"

#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <tuple>

#include "core/io.h"
#include "core/isolate.h"
#include "formats/hdf5_util.h"

namespace wb::keras {

namespace {

// Keras refuses to put more than this many bytes into one attribute (HDF5 object header limit)
// and splits name lists into <attr>0, <attr>1, ... beyond it.
constexpr uint64_t kHeaderLimit = 64512;
constexpr int kMaxDepth = 64;
constexpr char kSignature[] = "\x89HDF\r\n\x1a\n";

// The open file shared by every lazily-loaded tensor of one H5File.
struct Source {
  h5::Object root;
  uint64_t size;
};
using SourcePtr = std::shared_ptr<const Source>;

// ---- reading helpers ------------------------------------------------------------------------

Tensor lazy_tensor(const SourcePtr& src, const h5::Object& ds, const std::string& name) {
  const h5::DataSpec spec = h5::inspect_dataset(ds);
  Tensor t;
  t.name = name;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  t.load = [src, path = ds.path()] {
    const h5::Object d = src->root.open_dataset(path);
    return h5::read_dataset(d, h5::inspect_dataset(d), src->size);
  };
  return t;
}

H5Weight make_weight(const SourcePtr& src, const h5::Object& ds, const std::string& name) {
  return H5Weight{name, ds.path(), lazy_tensor(src, ds, name)};
}

// A name-list attribute, reassembling the <attr>0, <attr>1, ... pieces Keras writes when the
// list exceeds the header limit. nullopt when neither form is present.
std::optional<std::vector<std::string>> read_names(const h5::Object& obj, const std::string& attr) {
  if (obj.has_attr(attr)) return h5::read_string_list_attr(obj, attr);
  if (!obj.has_attr(attr + "0")) return std::nullopt;
  std::vector<std::string> all;
  for (int i = 0; obj.has_attr(attr + std::to_string(i)); ++i) {
    auto piece = h5::read_string_list_attr(obj, attr + std::to_string(i));
    all.insert(all.end(), piece->begin(), piece->end());
  }
  return all;
}

bool has_names(const h5::Object& obj, const std::string& attr) {
  return obj.has_attr(attr) || obj.has_attr(attr + "0");
}

void check_unique(const std::vector<std::string>& names, const h5::Object& group, const std::string& what) {
  std::set<std::string> seen;
  for (const auto& n : names)
    if (!seen.insert(n).second)
      fail(ErrorKind::Malformed, "duplicate weight names in " + what + ": '" + n + "'", group.file(),
           group.path());
}

// Weights listed by a group's weight_names attribute; paths are relative to the group.
std::vector<H5Weight> listed_weights(const SourcePtr& src, const h5::Object& group, const std::string& what) {
  const auto names = read_names(group, "weight_names");
  if (!names) fail(ErrorKind::Malformed, what + " has no weight_names attribute", group.file(), group.path());
  check_unique(*names, group, what);
  std::vector<H5Weight> out;
  for (const auto& n : *names) {
    if (group.kind_of(n) != h5::Kind::Dataset)
      fail(ErrorKind::Malformed,
           what + ": weight '" + n + "' listed in weight_names has no dataset at " + group.join(n),
           group.file(), group.path());
    out.push_back(make_weight(src, group.open_dataset(n), n));
  }
  return out;
}

std::string opt_string(const h5::Object& obj, const std::string& attr) {
  return h5::read_string_attr(obj, attr).value_or("");
}

void read_legacy(const SourcePtr& src, const h5::Object& w, H5File& f) {
  f.keras_version = opt_string(w, "keras_version");
  f.backend = opt_string(w, "backend");
  const std::vector<std::string> layer_names =
      read_names(w, "layer_names").value_or(std::vector<std::string>{});
  // Keras layer names are unique within a model; a repeated entry would bind one group twice.
  std::set<std::string> seen;
  for (const auto& name : layer_names)
    if (!seen.insert(name).second)
      fail(ErrorKind::Malformed, "duplicate layer name in layer_names: '" + name + "'", w.file(), w.path());
  for (const auto& name : layer_names) {
    if (w.kind_of(name) != h5::Kind::Group)
      fail(ErrorKind::Malformed, "layer_names lists '" + name + "' but there is no group " + w.join(name),
           w.file(), w.path());
    const h5::Object g = w.open_group(name);
    f.layers.push_back(H5Layer{name, "", listed_weights(src, g, "layer " + name)});
  }
  if (w.kind_of("top_level_model_weights") == h5::Kind::Group &&
      has_names(w.open_group("top_level_model_weights"), "weight_names"))
    f.top_level_weights =
        listed_weights(src, w.open_group("top_level_model_weights"), "top_level_model_weights");
  const h5::Object& root = src->root;
  if (root.kind_of("optimizer_weights") == h5::Kind::Group)
    f.optimizer_weights = listed_weights(src, root.open_group("optimizer_weights"), "optimizer_weights");
}

void read_keras0(const SourcePtr& src, H5File& f) {
  const h5::Object& root = src->root;
  const int64_t n = *h5::read_int_attr(root, "nb_layers");
  if (n < 0 || static_cast<uint64_t>(n) > root.children().size())
    fail(ErrorKind::Malformed, "nb_layers = " + std::to_string(n) + " does not match the groups in the file",
         root.file(), "/");
  for (int64_t k = 0; k < n; ++k) {
    const std::string name = "layer_" + std::to_string(k);
    if (root.kind_of(name) != h5::Kind::Group)
      fail(ErrorKind::Malformed, "Keras 0.x file: group " + name + " is missing", root.file(), "/");
    const h5::Object g = root.open_group(name);
    const int64_t np = h5::read_int_attr(g, "nb_params").value_or(-1);
    if (np < 0 || static_cast<uint64_t>(np) > g.children().size())
      fail(ErrorKind::Malformed, "nb_params missing or larger than the datasets present", g.file(), g.path());
    H5Layer layer{name, "", {}};
    for (int64_t p = 0; p < np; ++p) {
      const std::string pn = "param_" + std::to_string(p);
      if (g.kind_of(pn) != h5::Kind::Dataset)
        fail(ErrorKind::Malformed, "Keras 0.x layer " + name + ": dataset " + pn + " is missing", g.file(),
             g.path());
      layer.weights.push_back(make_weight(src, g.open_dataset(pn), pn));
    }
    f.layers.push_back(std::move(layer));
  }
}

// Keras 3 names: "vars" first, then decimal names by value, then the rest alphabetically.
bool keras3_less(const std::string& a, const std::string& b) {
  auto key = [](const std::string& s) {
    const bool numeric = !s.empty() && s.size() < 19 &&
                         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    return std::make_tuple(s != "vars", !numeric, numeric ? std::stoll(s) : 0LL, s);
  };
  return key(a) < key(b);
}

void walk_keras3(const SourcePtr& src, const h5::Object& g, const std::string& prefix,
                 std::vector<H5Weight>& out, int depth) {
  if (depth > kMaxDepth) fail(ErrorKind::Malformed, "groups nested too deeply", g.file(), g.path());
  std::vector<std::string> names = g.children();
  std::sort(names.begin(), names.end(), keras3_less);
  for (const auto& n : names) {
    const h5::Kind kind = g.kind_of(n);
    if (kind == h5::Kind::Dataset) out.push_back(make_weight(src, g.open_dataset(n), prefix + n));
    if (kind == h5::Kind::Group) walk_keras3(src, g.open_group(n), prefix + n + "/", out, depth + 1);
  }
}

std::vector<H5Weight> keras3_weights(const SourcePtr& src, const std::string& group) {
  std::vector<H5Weight> out;
  if (src->root.kind_of(group) == h5::Kind::Group)
    walk_keras3(src, src->root.open_group(group), group == "vars" ? "vars/" : "", out, 0);
  return out;
}

void read_keras3(const SourcePtr& src, H5File& f) {
  const h5::Object& root = src->root;
  const std::string lname =
      root.kind_of("layers") == h5::Kind::Group ? "layers" : "_layer_checkpoint_dependencies";
  if (root.kind_of(lname) == h5::Kind::Group) {
    const h5::Object layers = root.open_group(lname);
    for (const auto& name : layers.children()) {
      if (layers.kind_of(name) != h5::Kind::Group) continue;
      H5Layer layer{name, "", {}};
      const h5::Object g = layers.open_group(name);
      walk_keras3(src, g, "", layer.weights, 0);
      if (g.kind_of("vars") == h5::Kind::Group) layer.display_name = opt_string(g.open_group("vars"), "name");
      f.layers.push_back(std::move(layer));
    }
  }
  f.optimizer_weights = keras3_weights(src, "optimizer");
  f.top_level_weights = keras3_weights(src, "vars");
}

[[noreturn]] void not_keras(const h5::Object& root) {
  std::string members;
  const auto names = root.children();
  for (size_t i = 0; i < names.size() && i < 8; ++i) members += (i ? ", " : "") + names[i];
  if (names.size() > 8) members += ", ...";
  fail(ErrorKind::Malformed,
       "HDF5 file has neither layer_names nor model_weights nor layers/: not a Keras weights file (root "
       "holds: " +
           (members.empty() ? std::string("nothing") : members) + ")",
       root.file(), "/");
}

H5File read_source(const SourcePtr& src, const std::string& path) {
  const h5::Object& root = src->root;
  H5File f;
  f.path = path;
  f.model_config = h5::read_string_attr(root, "model_config");
  f.training_config = h5::read_string_attr(root, "training_config");
  f.root_keras_version = opt_string(root, "keras_version");
  f.root_backend = opt_string(root, "backend");
  if (root.has_attr("nb_layers")) {
    f.layout = "keras0";
    read_keras0(src, f);
  } else if (has_names(root, "layer_names")) {
    f.layout = "keras-legacy-weights";
    read_legacy(src, root, f);
  } else if (root.kind_of("model_weights") == h5::Kind::Group) {
    f.layout = "keras-legacy-model";
    const h5::Object w = root.open_group("model_weights");
    if (!has_names(w, "layer_names"))
      fail(ErrorKind::Malformed, "full-model file: model_weights group has no layer_names attribute",
           w.file(), w.path());
    read_legacy(src, w, f);
    // Keras 1 records its version at the root only, and it starts with 1. A 2.x/3.x root version
    // over a weights group without one comes from another writer: the root says what it is.
    if (f.keras_version.empty() && (f.root_keras_version.rfind("2.", 0) == 0 || f.root_keras_version.rfind("3.", 0) == 0)) {
      f.keras_version = f.root_keras_version;
      if (f.backend.empty()) f.backend = f.root_backend;
    }
  } else if (root.kind_of("layers") == h5::Kind::Group || root.kind_of("vars") == h5::Kind::Group ||
             root.kind_of("_layer_checkpoint_dependencies") == h5::Kind::Group) {
    f.layout = "keras3-weights";
    read_keras3(src, f);
  } else {
    not_keras(root);
  }
  return f;
}

bool signature_at(const uint8_t* p) { return std::memcmp(p, kSignature, 8) == 0; }

// The superblock sits at 0 or after a user block of 512, 1024, 2048, ... bytes.
template <typename ReadAt>
bool has_signature(uint64_t size, ReadAt read_at) {
  uint8_t buf[8];
  for (uint64_t off = 0; off + 8 <= size; off = off ? off * 2 : 512) {
    read_at(off, buf);
    if (signature_at(buf)) return true;
  }
  return false;
}

template <typename Fn>
auto with_file_context(const std::string& file, Fn fn) {
  try {
    return fn();
  } catch (Error& e) {
    e.in_file(file);
    throw;
  }
}

// ---- .keras archive -------------------------------------------------------------------------

using ZipPtr = std::unique_ptr<zip_t, void (*)(zip_t*)>;

constexpr uint64_t kJsonCap = uint64_t{1} << 28;
constexpr uint64_t kWeightsCap = uint64_t{1} << 36;

ZipPtr open_zip(const std::string& path) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    const std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    const bool io = err == ZIP_ER_OPEN || err == ZIP_ER_NOENT || err == ZIP_ER_READ;
    fail(io ? ErrorKind::Io : ErrorKind::Malformed,
         io ? "cannot open: " + msg : "not a zip archive (a .keras file is a zip): " + msg, path);
  }
  return ZipPtr(za, zip_discard);
}

// An archive held in memory; libzip reads the caller's buffer without copying it.
ZipPtr open_zip_image(const Bytes& image, const std::string& name) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(image.data(), image.size(), 0, &ze);
  if (!src) {
    zip_error_fini(&ze);
    fail(ErrorKind::Io, "cannot create a zip reader", name);
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &ze);
  if (!za) {
    zip_source_free(src);
    const std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    fail(ErrorKind::Malformed, "not a zip archive (a .keras file is a zip): " + msg, name);
  }
  zip_error_fini(&ze);
  return ZipPtr(za, zip_discard);
}

std::string member_list(zip_t* za) {
  std::string out;
  const zip_int64_t n = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < n && i < 20; ++i) {
    const char* name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    out += std::string(i ? ", " : "") + (name ? name : "?");
  }
  if (n > 20) out += ", ...";
  return out.empty() ? "none" : out;
}

zip_uint64_t locate(zip_t* za, const std::string& member, const std::string& path) {
  const zip_int64_t idx = zip_name_locate(za, member.c_str(), 0);
  if (idx < 0)
    fail(ErrorKind::Malformed, "zip without " + member + " (members: " + member_list(za) + ")", path);
  return static_cast<zip_uint64_t>(idx);
}

// Checks the sizes recorded in the zip before allocating anything.
uint64_t checked_member_size(zip_t* za, zip_uint64_t idx, const std::string& member, uint64_t cap,
                             uint64_t archive_size, const std::string& path) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
    fail(ErrorKind::Malformed, "cannot read zip entry of " + member, path);
  if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
    fail(ErrorKind::Unsupported, member + " is encrypted", path);
  const bool stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
  // Deflate cannot expand data by more than about 1032:1.
  const uint64_t limit = std::min(cap, stored ? archive_size : st.comp_size * 1100 + 1024);
  if (st.comp_size > archive_size || st.size > limit)
    fail(ErrorKind::Malformed,
         member + ": recorded size " + std::to_string(st.size) + " is impossible for an archive of " +
             std::to_string(archive_size) + " bytes (or above the cap)",
         path);
  return st.size;
}

Bytes read_member(zip_t* za, const std::string& member, uint64_t cap, uint64_t archive_size,
                  const std::string& path) {
  const zip_uint64_t idx = locate(za, member, path);
  const uint64_t size = checked_member_size(za, idx, member, cap, archive_size, path);
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> zf(zip_fopen_index(za, idx, 0), zip_fclose);
  if (!zf) fail(ErrorKind::Malformed, "cannot open " + member + ": " + zip_strerror(za), path);
  Bytes out(size);
  uint64_t got = 0;
  while (got < size) {
    const zip_int64_t n = zip_fread(zf.get(), out.data() + got, size - got);
    if (n <= 0) break;
    got += static_cast<uint64_t>(n);
  }
  uint8_t extra = 0;
  if (got != size || zip_fread(zf.get(), &extra, 1) != 0)
    fail(ErrorKind::Malformed, member + ": damaged zip member (" + zip_file_strerror(zf.get()) + ")", path);
  return out;
}

// ---- writing --------------------------------------------------------------------------------

// Names become HDF5 link paths relative to their group: every '/'-separated component must be
// a plain link name.
void check_write_name(const std::string& name, const std::string& what) {
  bool bad = name.empty() || name.size() > kHeaderLimit || name.find('\0') != std::string::npos;
  size_t start = 0;
  while (!bad && start <= name.size()) {
    const size_t slash = std::min(name.find('/', start), name.size());
    const std::string comp = name.substr(start, slash - start);
    bad = comp.empty() || comp == "." || comp == "..";
    start = slash + 1;
  }
  if (bad) fail(ErrorKind::Unsupported, what + " '" + name + "' cannot be written as an HDF5 path");
}

void validate_layers(const std::vector<H5WriteLayer>& layers) {
  std::set<std::string> layer_names;
  for (const auto& l : layers) {
    check_write_name(l.name, "layer name");
    if (!layer_names.insert(l.name).second)
      fail(ErrorKind::Unsupported, "duplicate layer name '" + l.name + "'");
    std::set<std::string> weight_names;
    for (const auto& [name, t] : l.weights) {
      check_write_name(name, "weight name in layer " + l.name);
      if (!weight_names.insert(name).second)
        fail(ErrorKind::Unsupported, "duplicate weight names in layer " + l.name + ": '" + name + "'");
      h5::file_type_for(t.dtype);  // refuses dtypes Keras 2 cannot load before anything is written
    }
  }
}

// Writes a name list exactly as Keras does: one attribute if it fits in the header limit, else
// pieces <attr>0..<attr>{k-1} split like numpy.array_split. Empty lists are empty float64 arrays.
void write_names(const h5::Object& obj, const std::string& attr, const std::vector<std::string>& names) {
  if (names.empty()) return h5::write_empty_f64_attr(obj, attr);
  uint64_t itemsize = 1;
  for (const auto& n : names) itemsize = std::max<uint64_t>(itemsize, n.size());
  const uint64_t count = names.size();
  uint64_t k = 1;
  while ((count + k - 1) / k * itemsize > kHeaderLimit) ++k;
  if (k == 1) return h5::write_fixed_string_list_attr(obj, attr, names);
  size_t pos = 0;
  for (uint64_t i = 0; i < k; ++i) {
    const size_t len = static_cast<size_t>(count / k + (i < count % k ? 1 : 0));
    const std::vector<std::string> piece(names.begin() + static_cast<std::ptrdiff_t>(pos),
                                         names.begin() + static_cast<std::ptrdiff_t>(pos + len));
    h5::write_fixed_string_list_attr(obj, attr + std::to_string(i), piece);
    pos += len;
  }
}

void write_layer(const h5::Object& weights_group, const H5WriteLayer& layer) {
  const h5::Object g = weights_group.create_group(layer.name);
  std::vector<std::string> names;
  for (const auto& w : layer.weights) names.push_back(w.first);
  write_names(g, "weight_names", names);
  for (const auto& [name, t] : layer.weights) {
    const Bytes data = t.load();  // one tensor in memory at a time
    if (data.size() != t.nbytes())
      fail(ErrorKind::Malformed,
           "tensor '" + name + "' produced " + std::to_string(data.size()) + " bytes, expected " +
               std::to_string(t.nbytes()),
           g.file(), g.path());
    h5::write_dataset(g, name, t.dtype, t.shape, data);
  }
}

}  // namespace

bool looks_like_hdf5(const std::string& path) {
  try {
    const auto src = open_file_source(path);
    return has_signature(src->size(), [&](uint64_t off, uint8_t* buf) { src->read_at(off, buf, 8); });
  } catch (const Error&) {
    return false;
  }
}

namespace {

void load_all(const std::vector<H5Weight>& weights) {
  for (const auto& w : weights) w.tensor.load();
}

// HDF5 1.10 is not memory-safe on crafted files (fuzz/README.md). Everything a read and the
// later tensor loads make the library do is first done in an isolated child process with
// resource limits; only when that completed is it repeated here. `read` opens and walks the file.
template <typename Read>
void preflight(const Read& read, uint64_t size, const std::string& name) {
  run_isolated(
      [&] {
        const H5File f = read();
        for (const auto& l : f.layers) load_all(l.weights);
        load_all(f.optimizer_weights);
        load_all(f.top_level_weights);
      },
      limits_for_file(size), name, "the HDF5 library");
}

}  // namespace

H5File read_h5(const std::string& path) {
  return with_file_context(path, [&] {
    const uint64_t size = open_file_source(path)->size();  // reports unreadable paths as Io
    if (!looks_like_hdf5(path)) fail(ErrorKind::Malformed, "not an HDF5 file (no HDF5 signature)", path);
    const auto read = [&] {
      h5::Object root = h5::open_file(path);
      const uint64_t n = h5::file_size(root);
      return read_source(std::make_shared<const Source>(Source{std::move(root), n}), path);
    };
    preflight(read, size, path);
    return read();
  });
}

H5File read_h5_image(const Bytes& image, const std::string& name) {
  return with_file_context(name, [&] {
    if (!has_signature(image.size(),
                       [&](uint64_t off, uint8_t* buf) { std::memcpy(buf, image.data() + off, 8); }))
      fail(ErrorKind::Malformed, "not an HDF5 file (no HDF5 signature)", name);
    const auto read = [&] {
      h5::Object root = h5::open_image(image, name);
      const uint64_t n = h5::file_size(root);
      return read_source(std::make_shared<const Source>(Source{std::move(root), n}), name);
    };
    preflight(read, image.size(), name);
    return read();
  });
}

namespace {

KerasArchive read_archive(zip_t* za, uint64_t archive_size, const std::string& path) {
  KerasArchive a;
  a.path = path;
  locate(za, "model.weights.h5", path);
  const Bytes config = read_member(za, "config.json", kJsonCap, archive_size, path);
  const Bytes meta = read_member(za, "metadata.json", kJsonCap, archive_size, path);
  a.config_json.assign(config.begin(), config.end());
  a.metadata_json.assign(meta.begin(), meta.end());
  const Bytes image = read_member(za, "model.weights.h5", kWeightsCap, archive_size, path);
  a.weights = read_h5_image(image, path + "!model.weights.h5");
  return a;
}

}  // namespace

KerasArchive read_keras_archive(const std::string& path) {
  return with_file_context(path, [&] {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(ErrorKind::Io, "cannot open: no such file", path);
    const ZipPtr za = open_zip(path);
    return read_archive(za.get(), static_cast<uint64_t>(st.st_size), path);
  });
}

KerasArchive read_keras_archive_image(const Bytes& zip, const std::string& name) {
  return with_file_context(name, [&] {
    const ZipPtr za = open_zip_image(zip, name);
    return read_archive(za.get(), zip.size(), name);
  });
}

void write_keras2_h5(const std::string& path, const std::vector<H5WriteLayer>& layers,
                     const std::string& model_config_json, const std::string& keras_version,
                     const std::string& backend) {
  with_file_context(path, [&] {
    validate_layers(layers);
    AtomicFile out(path);
    {
      h5::Object f = h5::create_file(out.temp_path(), path);
      h5::write_fixed_string_attr(f, "keras_version", keras_version);
      h5::write_fixed_string_attr(f, "backend", backend);
      h5::write_vlen_string_attr(f, "model_config", model_config_json);
      {
        const h5::Object w = f.create_group("model_weights");
        std::vector<std::string> names;
        for (const auto& l : layers) names.push_back(l.name);
        write_names(w, "layer_names", names);
        h5::write_fixed_string_attr(w, "backend", backend);
        h5::write_fixed_string_attr(w, "keras_version", keras_version);
        for (const auto& l : layers) write_layer(w, l);
      }
      h5::close_file(f);
    }
    out.commit();
  });
}

}  // namespace wb::keras

namespace wb::keras {

std::vector<H5Weight> read_h5_datasets(const std::string& path) {
  return with_file_context(path, [&] {
    const uint64_t size = open_file_source(path)->size();
    if (!looks_like_hdf5(path)) fail(ErrorKind::Malformed, "not an HDF5 file (no HDF5 signature)", path);
    const auto read = [&] {
      h5::Object root = h5::open_file(path);
      const uint64_t n = h5::file_size(root);
      auto src = std::make_shared<const Source>(Source{std::move(root), n});
      std::vector<H5Weight> out;
      walk_keras3(src, src->root, "", out, 0);
      return out;
    };
    run_isolated([&] { load_all(read()); }, limits_for_file(size), path, "the HDF5 library");
    return read();
  });
}

}  // namespace wb::keras
