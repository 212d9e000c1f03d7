// MXNet parameter containers: spec test vectors (formats-mxnet.md §12), real files
// (fixtures/real/PROVENANCE.md) and one corrupt input per rejection rule.
#include <zip.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include "core/io.h"
#include "test_util.h"
#include "weightbridge/error.h"
#include "weightbridge/mxnet_params.h"

using namespace wb;
using namespace wb::mxnet;

namespace {

Bytes hex(const std::string& s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// §12 TV1: V2 dense float32 (2,3) = [[1,2,3],[4,5,6]] named "arg:w".
const Bytes kTv1 = hex(
    "12 01 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"
    "C9 FA 93 F9  00 00 00 00  02 00 00 00  02 00 00 00 00 00 00 00  03 00 00 00 00 00 00 00"
    "01 00 00 00  00 00 00 00  00 00 00 00"
    "00 00 80 3F 00 00 00 40 00 00 40 40  00 00 80 40 00 00 A0 40 00 00 C0 40"
    "01 00 00 00 00 00 00 00  05 00 00 00 00 00 00 00  61 72 67 3A 77");

// §12 TV2: V3 0-d float64 scalar 1.5, no names.
const Bytes kTv2 = hex(
    "12 01 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"
    "CA FA 93 F9  00 00 00 00  00 00 00 00  01 00 00 00 00 00 00 00  01 00 00 00"
    "00 00 00 00 00 00 F8 3F  00 00 00 00 00 00 00 00");

// §12 TV3: legacy uint8 (2,2) "a" and V1 int32 (2,) "b".
const Bytes kTv3 = hex(
    "12 01 00 00 00 00 00 00  00 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00"
    "02 00 00 00  02 00 00 00 02 00 00 00  01 00 00 00 00 00 00 00  03 00 00 00  01 02 03 04"
    "C8 FA 93 F9  01 00 00 00  02 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  04 00 00 00"
    "07 00 00 00 FF FF FF FF"
    "02 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00 61  01 00 00 00 00 00 00 00 62");

// §12 TV4: bare V2 row_sparse record, logical float32 (4,2), rows 1 and 3 stored.
const Bytes kTv4Record = hex(
    "C9 FA 93 F9  01 00 00 00  02 00 00 00  02 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00"
    "02 00 00 00  04 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"
    "00 00 00 00  06 00 00 00  01 00 00 00  02 00 00 00 00 00 00 00"
    "00 00 80 3F 00 00 00 40 00 00 40 40 00 00 80 40"
    "01 00 00 00 00 00 00 00  03 00 00 00 00 00 00 00");

// §12 TV5: bare V2 CSR record, logical float32 (2,3) = [[0,5,0],[7,0,8]].
const Bytes kTv5Record = hex(
    "C9 FA 93 F9  02 00 00 00  01 00 00 00 03 00 00 00 00 00 00 00"
    "02 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"
    "01 00 00 00 00 00 00 00  00 00 00 00"
    "06 00 00 00 01 00 00 00 03 00 00 00 00 00 00 00"
    "06 00 00 00 01 00 00 00 03 00 00 00 00 00 00 00"
    "00 00 A0 40 00 00 E0 40 00 00 00 41"
    "00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"
    "01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00");

// List header for one record + the record + K = 0.
Bytes list_of_one(const Bytes& record) {
  return cat(cat(hex("12 01 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"), record),
             hex("00 00 00 00 00 00 00 00"));
}

// The MXNet 2.0 / NumPy .npy form of an array: version 1.0 header padded to a multiple of 64.
Bytes npy_bytes(const std::string& dict, const Bytes& payload) {
  std::string text = dict;
  while ((10 + text.size() + 1) % 64 != 0) text += ' ';
  text += '\n';
  Bytes b = hex("93 4E 55 4D 50 59 01 00");
  b.push_back(static_cast<uint8_t>(text.size() & 0xff));
  b.push_back(static_cast<uint8_t>(text.size() >> 8));
  return cat(cat(b, text_bytes(text)), payload);
}

// §12 Bonus: TV1's array as .npy (152 bytes).
Bytes bonus_npy() {
  return npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                   Bytes(kTv1.begin() + 0x40, kTv1.begin() + 0x58));
}

ParamsFile read_mem(const Bytes& b, const std::string& name = "mem.params") {
  return read_params(memory_source(b, name));
}

std::vector<float> values_f32(const ParamsFile& pf, size_t i, bool densify = false) {
  const Tensor t = record_tensor(pf, i, densify);
  return to_f32(t.load(), t.dtype);
}

// Runs f, which must throw wb::Error of `kind` whose one-line message names the file and
// contains `phrase`.
template <typename F>
std::optional<Error> expect_error(F&& f, ErrorKind kind, const std::string& phrase,
                                  const std::string& file = "mem.params") {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.format();
    EXPECT_NE(e.format().find(phrase), std::string::npos) << e.format();
    EXPECT_EQ(e.format().rfind(file + ": ", 0), 0u) << e.format();
    EXPECT_EQ(e.format().find('\n'), std::string::npos) << e.format();
    return e;
  }
  ADD_FAILURE() << "no error; expected: " << phrase;
  return std::nullopt;
}

void expect_bad(const Bytes& b, ErrorKind kind, const std::string& phrase) {
  expect_error([&] { read_mem(b); }, kind, phrase);
}

Bytes patched(Bytes b, size_t at, const Bytes& with) {
  std::copy(with.begin(), with.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
  return b;
}

Bytes file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::map<std::string, const NDRecord*> by_name(const ParamsFile& pf) {
  std::map<std::string, const NDRecord*> m;
  for (const auto& r : pf.records) m[r.name] = &r;
  return m;
}

std::vector<Tensor> tensors_of(const ParamsFile& pf) {
  std::vector<Tensor> ts;
  for (size_t i = 0; i < pf.records.size(); ++i) ts.push_back(record_tensor(pf, i));
  return ts;
}

void write_zip(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& members,
               zip_int32_t method) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, data] : members) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    ASSERT_NE(s, nullptr);
    const zip_int64_t idx = zip_file_add(z, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    ASSERT_GE(idx, 0);
    ASSERT_EQ(zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), method, 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

}  // namespace

// ---- spec test vectors --------------------------------------------------------------------

TEST(MxnetParams, Tv1DenseV2) {
  ASSERT_EQ(kTv1.size(), 109u);
  const ParamsFile pf = read_mem(kTv1);
  EXPECT_EQ(pf.container, "ndarray-list");
  ASSERT_EQ(pf.records.size(), 1u);
  const NDRecord& r = pf.records[0];
  EXPECT_EQ(r.name, "arg:w");
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(r.stype, 0);
  EXPECT_EQ(r.dtype, DType::F32);
  EXPECT_EQ(r.shape, (Shape{2, 3}));
  EXPECT_EQ(r.offset, 0x40u);
  EXPECT_EQ(r.nbytes, 24u);
  EXPECT_EQ(r.load_raw(), Bytes(kTv1.begin() + 0x40, kTv1.begin() + 0x58));
  EXPECT_EQ(values_f32(pf, 0), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(MxnetParams, Tv2V3ScalarIsOneElement) {
  ASSERT_EQ(kTv2.size(), 64u);
  const ParamsFile pf = read_mem(kTv2);
  ASSERT_EQ(pf.records.size(), 1u);
  const NDRecord& r = pf.records[0];
  EXPECT_FALSE(pf.has_names);
  EXPECT_EQ(r.version, 3);
  EXPECT_FALSE(r.none);
  EXPECT_EQ(r.dtype, DType::F64);
  EXPECT_TRUE(r.shape.empty());
  const Tensor t = record_tensor(pf, 0);
  EXPECT_EQ(to_f64(t.load(), t.dtype), (std::vector<double>{1.5}));
}

TEST(MxnetParams, Tv3LegacyAndV1) {
  ASSERT_EQ(kTv3.size(), 114u);
  const ParamsFile pf = read_mem(kTv3);
  ASSERT_EQ(pf.records.size(), 2u);
  EXPECT_EQ(pf.records[0].name, "a");
  EXPECT_EQ(pf.records[0].version, 0);
  EXPECT_EQ(pf.records[0].dtype, DType::U8);
  EXPECT_EQ(pf.records[0].shape, (Shape{2, 2}));
  EXPECT_EQ(pf.records[0].load_raw(), hex("01 02 03 04"));
  EXPECT_EQ(pf.records[1].name, "b");
  EXPECT_EQ(pf.records[1].version, 1);
  EXPECT_EQ(pf.records[1].dtype, DType::I32);
  EXPECT_EQ(pf.records[1].shape, (Shape{2}));
  EXPECT_EQ(to_f64(pf.records[1].load_raw(), DType::I32), (std::vector<double>{7, -1}));
}

TEST(MxnetParams, Tv4RowSparseDensified) {
  ASSERT_EQ(kTv4Record.size(), 108u);
  const ParamsFile pf = read_mem(list_of_one(kTv4Record));
  const NDRecord& r = pf.records[0];
  EXPECT_EQ(r.stype, 1);
  EXPECT_EQ(r.shape, (Shape{4, 2}));
  EXPECT_EQ(r.storage_shape, (Shape{2, 2}));
  ASSERT_EQ(r.aux.size(), 1u);
  EXPECT_EQ(r.aux[0].dtype, DType::I64);
  EXPECT_EQ(r.aux[0].shape, (Shape{2}));
  EXPECT_EQ(values_f32(pf, 0, true), (std::vector<float>{0, 0, 1, 2, 0, 0, 3, 4}));
}

TEST(MxnetParams, Tv5CsrDensified) {
  ASSERT_EQ(kTv5Record.size(), 144u);
  const ParamsFile pf = read_mem(list_of_one(kTv5Record));
  const NDRecord& r = pf.records[0];
  EXPECT_EQ(r.stype, 2);
  EXPECT_EQ(r.shape, (Shape{2, 3}));
  EXPECT_EQ(r.storage_shape, (Shape{3}));
  ASSERT_EQ(r.aux.size(), 2u);
  EXPECT_EQ(values_f32(pf, 0, true), (std::vector<float>{0, 5, 0, 7, 0, 8}));
}

TEST(MxnetParams, SparseWithoutDensifyIsUnsupported) {
  const ParamsFile pf = read_mem(list_of_one(kTv4Record));
  expect_error([&] { record_tensor(pf, 0); }, ErrorKind::Unsupported, "sparse (row_sparse) array; use --densify");
  const ParamsFile csr = read_mem(list_of_one(kTv5Record));
  expect_error([&] { record_tensor(csr, 0); }, ErrorKind::Unsupported, "sparse (csr) array");
}

// The TV4 row_sparse record with its logical first dimension replaced (u64 at byte 32).
Bytes tv4_with_rows(uint64_t rows) {
  Bytes b = kTv4Record;
  for (int i = 0; i < 8; ++i) b[32 + static_cast<size_t>(i)] = static_cast<uint8_t>(rows >> (8 * i));
  return b;
}

TEST(MxnetParams, DensifyIsCappedAt16GiBBeforeAllocating) {
  // (2^31, 2) float32 is exactly 2^34 bytes = 16 GiB: accepted (lazily, nothing is allocated).
  const ParamsFile at_cap = read_mem(list_of_one(tv4_with_rows(uint64_t{1} << 31)));
  EXPECT_EQ(record_tensor(at_cap, 0, true).nbytes(), uint64_t{1} << 34);
  // (2^31 + 1, 2) float32 is 8 bytes more: refused when the tensor is made, before any load.
  const ParamsFile over = read_mem(list_of_one(tv4_with_rows((uint64_t{1} << 31) + 1)));
  expect_error([&] { record_tensor(over, 0, true); }, ErrorKind::Unsupported,
               "densified (2147483649, 2) would need 17179869192 bytes, more than the 16 GiB limit");
}

TEST(MxnetParams, Fp16V2Record) {
  // V2 dense float16 (2,) = [1.0, -2.0]: binary16 0x3C00, 0xC000.
  const Bytes rec = hex("C9 FA 93 F9 00 00 00 00 01 00 00 00 02 00 00 00 00 00 00 00"
                        "01 00 00 00 00 00 00 00 02 00 00 00  00 3C 00 C0");
  const ParamsFile pf = read_mem(list_of_one(rec));
  EXPECT_EQ(pf.records[0].dtype, DType::F16);
  EXPECT_EQ(values_f32(pf, 0), (std::vector<float>{1.0f, -2.0f}));
}

TEST(MxnetParams, NoneRecords) {
  // V2 ndim 0, V3 ndim -1 and V3 dim -1 are "none": nothing follows the shape.
  const Bytes v2 = hex("C9 FA 93 F9 00 00 00 00 00 00 00 00");
  const Bytes v3 = hex("CA FA 93 F9 00 00 00 00 FF FF FF FF");
  const Bytes v3dim = hex("CA FA 93 F9 00 00 00 00 01 00 00 00 FF FF FF FF FF FF FF FF");
  for (const Bytes& rec : {v2, v3, v3dim}) {
    const ParamsFile pf = read_mem(list_of_one(rec));
    ASSERT_EQ(pf.records.size(), 1u);
    EXPECT_TRUE(pf.records[0].none);
    expect_error([&] { record_tensor(pf, 0); }, ErrorKind::Unsupported, "none array");
  }
}

// ---- writer -------------------------------------------------------------------------------

TEST(MxnetParams, WriteTv1ByteExact) {
  const std::string out = wbtest::tmp_dir() + "/tv1.params";
  write_params(out, {make_f32("arg:w", {2, 3}, {1, 2, 3, 4, 5, 6})});
  EXPECT_EQ(file_bytes(out), kTv1);
}

TEST(MxnetParams, WriteRank0AsShape1AndFp16) {
  const std::string out = wbtest::tmp_dir() + "/s.params";
  write_params(out, {make_tensor("s", DType::F64, {}, hex("00 00 00 00 00 00 F8 3F")),
                     make_tensor("h", DType::F16, {2}, hex("00 3C 00 C0"))});
  const ParamsFile pf = read_params(out);
  ASSERT_EQ(pf.records.size(), 2u);
  EXPECT_EQ(pf.records[0].version, 2);
  EXPECT_EQ(pf.records[0].shape, (Shape{1}));
  EXPECT_EQ(to_f64(pf.records[0].load_raw(), DType::F64), (std::vector<double>{1.5}));
  EXPECT_EQ(pf.records[1].dtype, DType::F16);
  EXPECT_EQ(pf.records[1].load_raw(), hex("00 3C 00 C0"));
}

TEST(MxnetParams, WriteRefusesDtypesMxnet1CannotLoad) {
  const std::string dir = wbtest::tmp_dir();
  for (DType t : {DType::I16, DType::U16, DType::U32, DType::U64}) {
    const std::string out = dir + "/x.params";
    const Tensor bad = make_tensor("x", t, {1}, Bytes(dtype_size(t), 0));
    expect_error([&] { write_params(out, {make_f32("ok", {1}, {1}), bad}); }, ErrorKind::Unsupported,
                 dtype_name(t), out);
    EXPECT_FALSE(file_exists(out));
  }
}

// ---- real files ---------------------------------------------------------------------------

TEST(MxnetParamsFixture, LegacyV0) {
  WB_FIXTURE(path, "other/legacy_ndarray.v0");
  const ParamsFile pf = read_params(path);
  EXPECT_FALSE(pf.has_names);
  ASSERT_EQ(pf.records.size(), 6u);
  std::vector<float> arange(128);
  for (size_t i = 0; i < arange.size(); ++i) arange[i] = static_cast<float>(i);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(pf.records[i].version, 0);
    EXPECT_EQ(pf.records[i].name, "");
    EXPECT_EQ(pf.records[i].dtype, DType::F32);
    EXPECT_EQ(pf.records[i].shape, (Shape{128}));
    EXPECT_EQ(values_f32(pf, i), arange);
  }
}

TEST(MxnetParamsFixture, LinregV1) {
  WB_FIXTURE(path, "mxnet-module/linreg-0000.params");
  const ParamsFile pf = read_params(path);
  ASSERT_EQ(pf.records.size(), 2u);
  EXPECT_EQ(pf.records[0].name, "arg:fc1_weight");
  EXPECT_EQ(pf.records[0].version, 1);
  EXPECT_EQ(pf.records[0].shape, (Shape{1, 2}));
  const auto w = values_f32(pf, 0);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_NEAR(w[1], 1.9999949f, 1e-7);
  EXPECT_EQ(pf.records[1].name, "arg:fc1_bias");
  EXPECT_EQ(pf.records[1].shape, (Shape{1}));
  EXPECT_NEAR(values_f32(pf, 1)[0], 2.48e-6, 0.01e-6);
}

TEST(MxnetParamsFixture, GluonMnistV1) {
  WB_FIXTURE(path, "mxnet-gluon/mnist_mlp_gluon.params");
  const ParamsFile pf = read_params(path);
  ASSERT_EQ(pf.records.size(), 6u);
  const auto m = by_name(pf);
  const std::map<std::string, Shape> want = {
      {"sequential0_dense0_weight", {128, 784}}, {"sequential0_dense0_bias", {128}},
      {"sequential0_dense1_weight", {64, 128}},  {"sequential0_dense1_bias", {64}},
      {"sequential0_dense2_weight", {10, 64}},   {"sequential0_dense2_bias", {10}}};
  for (const auto& [name, shape] : want) {
    ASSERT_EQ(m.count(name), 1u) << name;
    EXPECT_EQ(m.at(name)->shape, shape) << name;
    EXPECT_EQ(m.at(name)->version, 1);
    EXPECT_EQ(m.at(name)->dtype, DType::F32);
  }
}

TEST(MxnetParamsFixture, SmileCnnV2) {
  WB_FIXTURE(path, "mxnet-module/smilecnn_kerasmxnet-0000.params");
  const ParamsFile pf = read_params(path);
  ASSERT_EQ(pf.records.size(), 8u);
  for (const auto& r : pf.records) {
    EXPECT_EQ(r.name.rfind("arg:", 0), 0u) << r.name;
    EXPECT_EQ(r.version, 2);
  }
  const auto m = by_name(pf);
  ASSERT_EQ(m.count("arg:conv2d_1/kernel1"), 1u);
  EXPECT_EQ(m.at("arg:conv2d_1/kernel1")->shape, (Shape{32, 1, 3, 3}));
  ASSERT_EQ(m.count("arg:dense_1/kernel1"), 1u);
  EXPECT_EQ(m.at("arg:dense_1/kernel1")->shape, (Shape{6272, 128}));
}

TEST(MxnetParamsFixture, AutogluonDottedNames) {
  WB_FIXTURE(path, "mxnet-gluon/autogluon_tabnn_embed.params");
  const ParamsFile pf = read_params(path);
  ASSERT_EQ(pf.records.size(), 25u);
  for (const auto& r : pf.records) {
    EXPECT_NE(r.name.find('.'), std::string::npos) << r.name;
    EXPECT_EQ(r.version, 2);
  }
  EXPECT_EQ(by_name(pf).count("output_block.deep.body.3.running_var"), 1u);
}

TEST(MxnetParamsFixture, RoundTripIsExact) {
  for (const char* rel : {"mxnet-module/smilecnn_kerasmxnet-0000.params", "mxnet-module/linreg-0000.params",
                          "mxnet-gluon/autogluon_tabnn_embed.params"}) {
    WB_FIXTURE(path, rel);
    const ParamsFile a = read_params(path);
    const std::string out = wbtest::tmp_dir() + "/rt.params";
    write_params(out, tensors_of(a));
    const ParamsFile b = read_params(out);
    ASSERT_EQ(a.records.size(), b.records.size());
    for (size_t i = 0; i < a.records.size(); ++i) {
      EXPECT_EQ(a.records[i].name, b.records[i].name);
      EXPECT_EQ(a.records[i].shape, b.records[i].shape);
      EXPECT_EQ(a.records[i].dtype, b.records[i].dtype);
      EXPECT_EQ(a.records[i].load_raw(), b.records[i].load_raw()) << a.records[i].name;
    }
    if (std::string(rel).find("smilecnn") != std::string::npos) {
      EXPECT_EQ(file_bytes(out), file_bytes(path));  // V2, cpu(0), names: written exactly as read
    }
  }
}

// ---- rejection rules ----------------------------------------------------------------------

TEST(MxnetParamsReject, HtmlPageShowsMagicAndText) {
  // "<html>\n<" = 3c 68 74 6d 6c 3e 0a 3c, read as a little-endian u64 like the real magic.
  const auto e = expect_error([] { read_mem(text_bytes("<html>\n<head><title>404</title></head>")); },
                              ErrorKind::Malformed, "bad magic 0x3c0a3e6c6d74683c (expected 0x112)");
  ASSERT_TRUE(e);
  EXPECT_NE(e->format().find("file starts with '<html"), std::string::npos) << e->format();
}

TEST(MxnetParamsReject, WrongBinaryMagic) {
  const auto e = expect_error([] { read_mem(patched(kTv1, 0, hex("13"))); }, ErrorKind::Malformed,
                              "bad magic 0x113 (expected 0x112)");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->format().find("starts with"), std::string::npos);
}

TEST(MxnetParamsReject, Hdf5FileIsNamed) {
  expect_bad(hex("89 48 44 46 0D 0A 1A 0A 00 00 00 00 00 08 08 00"), ErrorKind::Malformed, "the file is HDF5");
}

TEST(MxnetParamsReject, GitLfsPointer) {
  expect_bad(text_bytes("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 3251644\n"),
             ErrorKind::Malformed, "Git LFS pointer, not data");
}

TEST(MxnetParamsReject, TruncationAtEveryByte) {
  for (const Bytes* full : {&kTv1, &kTv3}) {
    for (size_t n = 0; n < full->size(); ++n)
      expect_bad(Bytes(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(n)), ErrorKind::Malformed,
                 "truncated");
  }
  const Bytes tv5 = list_of_one(kTv5Record);
  for (size_t n = 0; n < tv5.size(); ++n)
    expect_bad(Bytes(tv5.begin(), tv5.begin() + static_cast<std::ptrdiff_t>(n)), ErrorKind::Malformed, "truncated");
}

TEST(MxnetParamsReject, TruncatedPayloadNamesRecordAndSizes) {
  // TV1 cut 8 bytes into its 24-byte payload (offset 0x40).
  const auto e = expect_error([] { read_mem(Bytes(kTv1.begin(), kTv1.begin() + 0x48)); }, ErrorKind::Malformed,
                              "record 0: truncated: array payload needs 24 bytes at offset 64, 8 available");
  (void)e;
}

TEST(MxnetParamsReject, AbsurdNdim) {
  expect_bad(patched(kTv1, 0x20, hex("E8 03 00 00")), ErrorKind::Malformed, "shape ndim 1000 is out of range");
  // A legacy record's first u32 is its ndim.
  expect_bad(patched(kTv1, 0x18, hex("E8 03 00 00")), ErrorKind::Malformed, "ndim 1000 exceeds the maximum rank 32");
}

TEST(MxnetParamsReject, NegativeDim) {
  expect_bad(patched(kTv1, 0x24, hex("FB FF FF FF FF FF FF FF")), ErrorKind::Malformed, "negative dimension -5");
}

TEST(MxnetParamsReject, DimsProductOverflows) {
  // (2^40, 2^40) elements of 4 bytes.
  const Bytes b = patched(patched(kTv1, 0x24, hex("00 00 00 00 00 01 00 00")), 0x2C, hex("00 00 00 00 00 01 00 00"));
  expect_bad(b, ErrorKind::Malformed, "overflows");
}

TEST(MxnetParamsReject, PayloadPastEndOfFile) {
  // (2, 3000) float32 = 24000 bytes in a 109-byte file.
  expect_bad(patched(kTv1, 0x2C, hex("B8 0B")), ErrorKind::Malformed, "array payload needs 24000 bytes at offset 64");
}

TEST(MxnetParamsReject, UnknownTypeFlag) {
  expect_bad(patched(kTv1, 0x3C, hex("63")), ErrorKind::Malformed, "record 0: unknown type_flag 99");
}

TEST(MxnetParamsReject, UnknownStorageType) {
  expect_bad(patched(kTv1, 0x1C, hex("07")), ErrorKind::Malformed, "unknown storage type 7");
}

TEST(MxnetParamsReject, SparseInV3) {
  expect_bad(list_of_one(patched(kTv4Record, 0, hex("CA"))), ErrorKind::Malformed, "V3 records are dense only");
}

TEST(MxnetParamsReject, NameCountMismatch) {
  expect_bad(patched(kTv1, 0x58, hex("02")), ErrorKind::Malformed, "name count 2 is neither 0 nor the array count 1");
}

TEST(MxnetParamsReject, NameLengthHuge) {
  expect_bad(patched(kTv1, 0x60, hex("FF FF FF FF FF FF FF 7F")), ErrorKind::Malformed,
             "names: truncated: name 0 needs 9223372036854775807 bytes");
}

TEST(MxnetParamsReject, DuplicateNames) {
  expect_bad(patched(kTv3, 0x71, hex("61")), ErrorKind::Malformed, "record 1 'a': duplicate name 'a'");
}

TEST(MxnetParamsReject, ArrayCountBeyondFile) {
  expect_bad(patched(kTv1, 0x10, hex("00 00 00 00 00 01")), ErrorKind::Malformed, "array count 1099511627776");
}

TEST(MxnetParamsReject, InconsistentSparseLayout) {
  // row_sparse index array of 3 entries for 2 stored rows.
  expect_bad(list_of_one(patched(kTv4Record, 0x44, hex("03"))), ErrorKind::Malformed, "inconsistent row_sparse");
}

TEST(MxnetParamsReject, RowSparseIndexOutOfRange) {
  const ParamsFile pf = read_mem(list_of_one(patched(kTv4Record, 0x64, hex("04"))));  // row 4 of 4
  const Tensor t = record_tensor(pf, 0, true);
  expect_error([&] { t.load(); }, ErrorKind::Malformed, "row_sparse index 4");
}

TEST(MxnetParamsReject, CsrColumnOutOfRange) {
  const ParamsFile pf = read_mem(list_of_one(patched(kTv5Record, 0x88, hex("03"))));  // column 3 of 3
  const Tensor t = record_tensor(pf, 0, true);
  expect_error([&] { t.load(); }, ErrorKind::Malformed, "csr column index 3");
}

// ---- npy / npz ----------------------------------------------------------------------------

TEST(MxnetNpy, BonusTv1Array) {
  const Bytes npy = bonus_npy();
  ASSERT_EQ(npy.size(), 152u);
  EXPECT_EQ(Bytes(npy.begin(), npy.begin() + 10), hex("93 4E 55 4D 50 59 01 00 76 00"));
  const ParamsFile pf = read_mem(npy, "w.npy");
  EXPECT_EQ(pf.container, "npy");
  ASSERT_EQ(pf.records.size(), 1u);
  EXPECT_EQ(pf.records[0].version, -1);
  EXPECT_EQ(pf.records[0].dtype, DType::F32);
  EXPECT_EQ(pf.records[0].shape, (Shape{2, 3}));
  EXPECT_EQ(values_f32(pf, 0), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(MxnetNpy, Float16AndBfloat16) {
  // binary16 1.0, 2.0, -4.0; bfloat16 0x3F80 = 1.0, 0x4049 = 3.140625.
  const ParamsFile h = read_mem(npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
                                          hex("00 3C 00 40 00 C4")));
  EXPECT_EQ(h.records[0].dtype, DType::F16);
  EXPECT_EQ(values_f32(h, 0), (std::vector<float>{1, 2, -4}));
  const ParamsFile b = read_mem(npy_bytes("{'descr': '<b2', 'fortran_order': False, 'shape': (2,), }",
                                          hex("80 3F 49 40")));
  EXPECT_EQ(b.records[0].dtype, DType::BF16);
  EXPECT_EQ(values_f32(b, 0), (std::vector<float>{1.0f, 3.140625f}));
}

TEST(MxnetNpy, FortranOrderIsTransposed) {
  // Column-major (2,3) [[1,2,3],[4,5,6]] is stored as 1 4 2 5 3 6.
  Bytes payload;
  for (float v : {1.f, 4.f, 2.f, 5.f, 3.f, 6.f}) {
    payload.resize(payload.size() + 4);
    std::memcpy(payload.data() + payload.size() - 4, &v, 4);
  }
  const ParamsFile pf = read_mem(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", payload));
  EXPECT_TRUE(pf.records[0].fortran_order);
  EXPECT_EQ(pf.records[0].load_raw(), payload);
  EXPECT_EQ(values_f32(pf, 0), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(MxnetNpy, Version2HeaderAndScalar) {
  const std::string dict = "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": ()}\n";
  Bytes b = hex("93 4E 55 4D 50 59 02 00");
  put_u32(b, static_cast<uint32_t>(dict.size()));
  b = cat(cat(b, text_bytes(dict)), hex("00 00 00 00 00 00 F8 3F"));
  const ParamsFile pf = read_mem(b);
  EXPECT_TRUE(pf.records[0].shape.empty());
  const Tensor t = record_tensor(pf, 0);
  EXPECT_EQ(to_f64(t.load(), t.dtype), (std::vector<double>{1.5}));
}

TEST(MxnetNpy, Rejections) {
  expect_bad(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", Bytes(4)),
             ErrorKind::Unsupported, "big-endian npy descr '>f4'");
  expect_bad(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Bytes(20)),
             ErrorKind::Malformed, "truncated: npy payload needs 24 bytes");
  expect_bad(npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", Bytes(24)), ErrorKind::Malformed,
             "lacks one of");
  expect_bad(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", Bytes(24)),
             ErrorKind::Malformed, "expects a non-negative dimension");
  expect_bad(npy_bytes("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", Bytes(4)),
             ErrorKind::Unsupported, "structured dtype");
  expect_bad(npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", Bytes(8)),
             ErrorKind::Unsupported, "npy descr '<c8' is not supported");
  const Bytes npy = bonus_npy();
  expect_bad(Bytes(npy.begin(), npy.begin() + 40), ErrorKind::Malformed, "truncated");
}

TEST(MxnetNpz, StoredMemberFromFileAndMemory) {
  const std::string path = wbtest::tmp_dir() + "/w.npz";
  write_zip(path, {{"arg:w.npy", bonus_npy()}, {"notes.txt", text_bytes("ignored")}}, ZIP_CM_STORE);
  for (const ParamsFile& pf : {read_params(path), read_params(memory_source(file_bytes(path), path))}) {
    EXPECT_EQ(pf.container, "npz");
    EXPECT_TRUE(pf.has_names);
    ASSERT_EQ(pf.records.size(), 1u);
    EXPECT_EQ(pf.records[0].name, "arg:w");
    EXPECT_EQ(pf.records[0].dtype, DType::F32);
    EXPECT_EQ(pf.records[0].shape, (Shape{2, 3}));
    EXPECT_EQ(values_f32(pf, 0), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  }
}

TEST(MxnetNpz, DeflatedMembers) {
  const std::string path = wbtest::tmp_dir() + "/d.npz";
  const Bytes h = npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", hex("00 3C 00 40 00 C4"));
  write_zip(path, {{"features.0.weight.npy", bonus_npy()}, {"h.npy", h}}, ZIP_CM_DEFLATE);
  const ParamsFile pf = read_params(path);
  ASSERT_EQ(pf.records.size(), 2u);
  const auto m = by_name(pf);
  ASSERT_EQ(m.count("features.0.weight"), 1u);
  ASSERT_EQ(m.count("h"), 1u);
  EXPECT_EQ(m.at("h")->dtype, DType::F16);
  EXPECT_EQ(to_f32(m.at("h")->load_raw(), DType::F16), (std::vector<float>{1, 2, -4}));
  EXPECT_EQ(to_f32(m.at("features.0.weight")->load_raw(), DType::F32), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(MxnetNpz, Rejections) {
  const std::string dir = wbtest::tmp_dir();
  const Bytes npy = bonus_npy();
  write_zip(dir + "/t.npz", {{"w.npy", Bytes(npy.begin(), npy.begin() + 140)}}, ZIP_CM_STORE);
  expect_error([&] { read_params(dir + "/t.npz"); }, ErrorKind::Malformed, "truncated: array 'w' needs 24 bytes, 12 available",
               dir + "/t.npz");
  write_zip(dir + "/s.npz", {{"emb/data.npy", npy}, {"emb/format.npy", npy}}, ZIP_CM_STORE);
  expect_error([&] { read_params(dir + "/s.npz"); }, ErrorKind::Unsupported, "sparse array 'emb'", dir + "/s.npz");
  write_zip(dir + "/k.keras", {{"config.json", text_bytes("{}")}}, ZIP_CM_STORE);
  expect_error([&] { read_params(dir + "/k.keras"); }, ErrorKind::Malformed, "no .npy members", dir + "/k.keras");
  const Bytes zip = file_bytes(dir + "/t.npz");
  expect_bad(Bytes(zip.begin(), zip.begin() + 60), ErrorKind::Malformed, "not a readable zip archive");
}
