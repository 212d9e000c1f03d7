#include "formats/npz.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

namespace wb::npy {
namespace {

constexpr uint64_t kMaxHeaderText = uint64_t{1} << 20;  // real headers are ~118 bytes
constexpr size_t kMaxRank = 32;

// Recursive-descent reader for the header's Python dict literal.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& file, const std::string& where)
      : s_(text), file_(file), where_(where) {}

  Header parse();

 private:
  [[noreturn]] void bad(const std::string& why) const {
    fail(ErrorKind::Malformed, fmt::format("npy header {} at column {}", why, i_), file_, where_);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(fmt::format("expects '{}'", c));
  }
  std::string quoted();
  bool boolean();
  Shape tuple();
  uint64_t integer();
  std::string descr();

  const std::string& s_;
  const std::string& file_;
  const std::string& where_;
  size_t i_ = 0;
};

std::string DictParser::quoted() {
  ws();
  if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) bad("expects a quoted string");
  const char q = s_[i_++];
  const size_t end = s_.find(q, i_);
  if (end == std::string::npos) bad("has an unterminated string");
  std::string out = s_.substr(i_, end - i_);
  i_ = end + 1;
  return out;
}

bool DictParser::boolean() {
  ws();
  if (s_.compare(i_, 4, "True") == 0) { i_ += 4; return true; }
  if (s_.compare(i_, 5, "False") == 0) { i_ += 5; return false; }
  bad("expects True or False");
}

uint64_t DictParser::integer() {
  ws();
  if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') bad("expects a non-negative dimension");
  uint64_t v = 0;
  while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
    v = v * 10 + static_cast<uint64_t>(s_[i_++] - '0');
    if (v > (uint64_t{1} << 62)) bad("has a dimension that is too large");
  }
  if (i_ < s_.size() && (s_[i_] == 'L' || s_[i_] == 'l')) ++i_;  // Python 2 long literal
  return v;
}

Shape DictParser::tuple() {
  expect('(');
  Shape shape;
  while (!eat(')')) {
    if (shape.size() == kMaxRank) bad(fmt::format("has a shape of more than {} dimensions", kMaxRank));
    shape.push_back(static_cast<int64_t>(integer()));
    if (!eat(',')) {
      expect(')');
      break;
    }
  }
  return shape;
}

std::string DictParser::descr() {
  ws();
  if (i_ < s_.size() && s_[i_] == '[')
    fail(ErrorKind::Unsupported, "npy structured dtype (descr is a list) is not supported", file_, where_);
  return quoted();
}

Header DictParser::parse() {
  Header h;
  std::optional<std::string> d;
  std::optional<bool> fortran;
  std::optional<Shape> shape;
  expect('{');
  while (!eat('}')) {
    const std::string key = quoted();
    expect(':');
    if (key == "descr" && !d) d = descr();
    else if (key == "fortran_order" && !fortran) fortran = boolean();
    else if (key == "shape" && !shape) shape = tuple();
    else bad(fmt::format("has an unexpected or repeated key '{}'", key));
    if (!eat(',')) {
      expect('}');
      break;
    }
  }
  if (!d || !fortran || !shape) bad("lacks one of 'descr', 'fortran_order', 'shape'");
  std::string code = *d;
  // '>' is big-endian; '|' (not applicable) and '=' (native, always little-endian here) are fine.
  if (code.size() == 3 && code[0] == '>' && code[2] != '1')
    fail(ErrorKind::Unsupported, fmt::format("big-endian npy descr '{}' is not supported", code), file_, where_);
  if (code.size() == 3 && (code[0] == '=' || code[0] == '>')) code[0] = code[2] == '1' ? '|' : '<';
  const auto t = dtype_from_npy_descr(code);
  if (!t) fail(ErrorKind::Unsupported, fmt::format("npy descr '{}' is not supported", *d), file_, where_);
  h.dtype = *t;
  h.fortran_order = *fortran;
  h.shape = *shape;
  return h;
}

}  // namespace

uint64_t header_size(const uint8_t* p, size_t n, const std::string& file, const std::string& where) {
  if (n < 10)
    fail(ErrorKind::Malformed, fmt::format("truncated: npy preamble needs 10 bytes, {} available", n), file, where);
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) fail(ErrorKind::Malformed, "not an npy array (bad magic)", file, where);
  const uint8_t major = p[6];
  if (major < 1 || major > 3)
    fail(ErrorKind::Unsupported, fmt::format("npy format version {}.{} is not supported", major, p[7]), file, where);
  if (major == 1) return 10 + (uint64_t{p[8]} | uint64_t{p[9]} << 8);
  if (n < 12)
    fail(ErrorKind::Malformed, fmt::format("truncated: npy v{} preamble needs 12 bytes, {} available", major, n), file, where);
  const uint64_t text = le_u32(p + 8);
  if (text > kMaxHeaderText)
    fail(ErrorKind::Malformed, fmt::format("npy header of {} bytes exceeds the {}-byte limit", text, kMaxHeaderText), file, where);
  return 12 + text;
}

Header parse_header(const uint8_t* p, size_t n, const std::string& file, const std::string& where) {
  const uint64_t size = header_size(p, n, file, where);
  if (size > n)
    fail(ErrorKind::Malformed, fmt::format("truncated: npy header needs {} bytes, {} available", size, n), file, where);
  const size_t text_at = p[6] == 1 ? 10 : 12;
  const std::string text(reinterpret_cast<const char*>(p) + text_at, static_cast<size_t>(size) - text_at);
  Header h = DictParser(text, file, where).parse();
  h.data_offset = size;
  try {
    h.nbytes = checked_nbytes(h.shape, h.dtype);
  } catch (Error& e) {
    throw e.in_file(file).add_context(where);
  }
  return h;
}

}  // namespace wb::npy

namespace wb::mxnet {
namespace {

NDRecord npy_record(const npy::Header& h, std::string name) {
  NDRecord r;
  r.name = std::move(name);
  r.version = -1;
  r.dtype = h.dtype;
  r.shape = h.shape;
  r.fortran_order = h.fortran_order;
  r.offset = h.data_offset;
  r.nbytes = h.nbytes;
  return r;
}

// ---- libzip over a ByteSource -------------------------------------------------------------

struct ZipSourceState {
  std::shared_ptr<ByteSource> src;
  uint64_t pos = 0;
  zip_error_t error{};
};

zip_int64_t zip_source_cb(void* user, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto* st = static_cast<ZipSourceState*>(user);
  const uint64_t size = st->src->size();
  switch (cmd) {
    case ZIP_SOURCE_OPEN: st->pos = 0; return 0;
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_READ: {
      const uint64_t n = std::min<uint64_t>(len, st->pos >= size ? 0 : size - st->pos);
      try {
        if (n) st->src->read_at(st->pos, data, n);
      } catch (const Error&) {
        zip_error_set(&st->error, ZIP_ER_READ, 0);
        return -1;
      }
      st->pos += n;
      return static_cast<zip_int64_t>(n);
    }
    case ZIP_SOURCE_STAT: {
      auto* zs = static_cast<zip_stat_t*>(data);
      zip_stat_init(zs);
      zs->size = size;
      zs->valid |= ZIP_STAT_SIZE;
      return sizeof(zip_stat_t);
    }
    case ZIP_SOURCE_SEEK: {
      const zip_int64_t np = zip_source_seek_compute_offset(st->pos, size, data, len, &st->error);
      if (np < 0) return -1;
      st->pos = static_cast<uint64_t>(np);
      return 0;
    }
    case ZIP_SOURCE_TELL: return static_cast<zip_int64_t>(st->pos);
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&st->error, data, len);
    case ZIP_SOURCE_FREE: delete st; return 0;
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                            ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
                                            ZIP_SOURCE_SUPPORTS, -1);
    default: zip_error_set(&st->error, ZIP_ER_OPNOTSUPP, 0); return -1;
  }
}

// An open archive; shared by the loaders of its members.
class ZipArchive {
 public:
  explicit ZipArchive(std::shared_ptr<ByteSource> src) : file_(src->name()) {
    zip_error_t err;
    zip_error_init(&err);
    auto* state = new ZipSourceState{std::move(src), 0, {}};
    zip_error_init(&state->error);
    zip_source_t* zs = zip_source_function_create(zip_source_cb, state, &err);
    if (!zs) {
      delete state;
      zip_error_fini(&err);
      fail(ErrorKind::Io, "cannot create a zip reader", file_);
    }
    z_ = zip_open_from_source(zs, ZIP_RDONLY, &err);
    if (!z_) {
      zip_source_free(zs);
      const std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      fail(ErrorKind::Malformed, "not a readable zip archive: " + why, file_);
    }
  }
  ~ZipArchive() { zip_discard(z_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  zip_t* get() const { return z_; }
  const std::string& file() const { return file_; }

  // Bytes [skip, skip + n) of the uncompressed member.
  Bytes read(zip_uint64_t index, uint64_t skip, uint64_t n, const std::string& where) const;

 private:
  std::string file_;
  zip_t* z_ = nullptr;
};

Bytes ZipArchive::read(zip_uint64_t index, uint64_t skip, uint64_t n, const std::string& where) const {
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> f(zip_fopen_index(z_, index, 0), zip_fclose);
  if (!f) fail(ErrorKind::Malformed, std::string("cannot open zip member: ") + zip_strerror(z_), file_, where);
  uint8_t scratch[4096];
  while (skip > 0) {
    const zip_int64_t got = zip_fread(f.get(), scratch, std::min<uint64_t>(skip, sizeof scratch));
    if (got <= 0) fail(ErrorKind::Malformed, "truncated zip member", file_, where);
    skip -= static_cast<uint64_t>(got);
  }
  Bytes out(static_cast<size_t>(n));
  uint64_t done = 0;
  while (done < n) {
    const zip_int64_t got = zip_fread(f.get(), out.data() + done, n - done);
    if (got < 0) fail(ErrorKind::Malformed, std::string("zip member unreadable: ") + zip_file_strerror(f.get()), file_, where);
    if (got == 0)
      fail(ErrorKind::Malformed, fmt::format("truncated: zip member needs {} bytes, {} available", n, done), file_, where);
    done += static_cast<uint64_t>(got);
  }
  return out;
}

// Deflate cannot expand data by more than 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1032;

zip_stat_t checked_stat(const ZipArchive& za, zip_uint64_t index, uint64_t file_size) {
  zip_stat_t st;
  if (zip_stat_index(za.get(), index, 0, &st) != 0)
    fail(ErrorKind::Malformed, std::string("cannot stat zip member: ") + zip_strerror(za.get()), za.file());
  const std::string where = fmt::format("member '{}'", st.name ? st.name : "?");
  if (st.encryption_method != ZIP_EM_NONE) fail(ErrorKind::Unsupported, "encrypted zip member", za.file(), where);
  if (st.comp_size > file_size)
    fail(ErrorKind::Malformed, "zip member is larger than the file", za.file(), where);
  if (st.comp_method == ZIP_CM_STORE) {
    if (st.size != st.comp_size) fail(ErrorKind::Malformed, "stored zip member sizes disagree", za.file(), where);
  } else if (st.comp_method == ZIP_CM_DEFLATE) {
    if (st.size / kMaxDeflateRatio > st.comp_size)
      fail(ErrorKind::Malformed, "deflated zip member claims an impossible size", za.file(), where);
  } else {
    fail(ErrorKind::Unsupported, fmt::format("zip compression method {} is not supported", st.comp_method), za.file(), where);
  }
  return st;
}

NDRecord npz_member(const std::shared_ptr<ZipArchive>& za, zip_uint64_t index, const zip_stat_t& st,
                    std::string name) {
  const std::string where = fmt::format("member '{}'", st.name);
  const uint64_t pre = std::min<uint64_t>(st.size, npy::kPreambleMax);
  const Bytes preamble = za->read(index, 0, pre, where);
  const uint64_t hsize = npy::header_size(preamble.data(), preamble.size(), za->file(), where);
  if (hsize > st.size)
    fail(ErrorKind::Malformed, fmt::format("truncated: npy header needs {} bytes, {} available", hsize, st.size), za->file(), where);
  const Bytes head = za->read(index, 0, hsize, where);
  const npy::Header h = npy::parse_header(head.data(), head.size(), za->file(), where);
  if (h.nbytes > st.size - hsize)
    fail(ErrorKind::Malformed,
         fmt::format("truncated: array '{}' needs {} bytes, {} available", name, h.nbytes, st.size - hsize), za->file(), where);
  NDRecord r = npy_record(h, std::move(name));
  r.load_raw = [za, index, hsize, n = h.nbytes, where] { return za->read(index, hsize, n, where); };
  return r;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

ParamsFile read_npy_file(std::shared_ptr<ByteSource> src) {
  uint8_t pre[npy::kPreambleMax] = {};
  const size_t pre_n = static_cast<size_t>(std::min<uint64_t>(src->size(), sizeof pre));
  src->read_at(0, pre, pre_n);
  const uint64_t hsize = npy::header_size(pre, pre_n, src->name(), "npy");
  Cursor cur(*src);
  const Bytes head = cur.bytes(hsize, "npy header");
  const npy::Header h = npy::parse_header(head.data(), head.size(), src->name(), "npy");
  cur.need(h.nbytes, "npy payload");
  ParamsFile pf;
  pf.path = src->name();
  pf.container = "npy";
  NDRecord r = npy_record(h, "");
  r.load_raw = [src, off = h.data_offset, n = h.nbytes] { return src->read_bytes(off, n); };
  pf.records.push_back(std::move(r));
  pf.source = std::move(src);
  return pf;
}

ParamsFile read_npz_file(std::shared_ptr<ByteSource> src) {
  auto za = std::make_shared<ZipArchive>(src);
  ParamsFile pf;
  pf.path = src->name();
  pf.container = "npz";
  pf.has_names = true;
  const zip_int64_t count = zip_get_num_entries(za->get(), 0);
  std::map<std::string, size_t> seen;
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count < 0 ? 0 : count); ++i) {
    const zip_stat_t st = checked_stat(*za, i, src->size());
    const std::string member = st.name;
    if (!ends_with(member, ".npy")) continue;
    if (ends_with(member, "/format.npy"))
      fail(ErrorKind::Unsupported,
           fmt::format("sparse array '{}' in npz is not supported", member.substr(0, member.size() - 11)), pf.path);
    std::string name = member.substr(0, member.size() - 4);
    if (!seen.emplace(name, pf.records.size()).second)
      fail(ErrorKind::Malformed, fmt::format("duplicate array name '{}'", name), pf.path, "member '" + member + "'");
    pf.records.push_back(npz_member(za, i, st, std::move(name)));
  }
  if (count > 0 && pf.records.empty())
    fail(ErrorKind::Malformed, "zip archive has no .npy members; not an MXNet npz file", pf.path);
  pf.source = std::move(src);
  return pf;
}

}  // namespace wb::mxnet
