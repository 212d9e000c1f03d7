// Keras 3 .keras archives (zip with config.json, metadata.json, model.weights.h5), from memory.
// No writer exists for this format: the reader and every tensor load must fail only with wb::Error.
//
// Mutating a zip's bytes almost always breaks a member's CRC-32, which libzip checks, so plain
// mutation never gets inside the members. The custom mutator below (libFuzzer builds only) also
// unpacks the archive, mutates one member and packs it again with correct sizes and CRCs, so the
// fuzzer explores the config.json / model.weights.h5 contents as well as the container.
#include <zip.h>

#include <random>

#include "fuzz_common.h"
#include "hdf5_init.h"
#include "weightbridge/keras_h5.h"

#ifdef WB_LIBFUZZER
namespace {

struct Member {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Every member of a zip held in memory, or false when libzip cannot open it.
bool unpack(const uint8_t* data, size_t size, std::vector<Member>& out) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(data, size, 0, &err);
  if (!src) return false;
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (!za) {
    zip_source_free(src);
    return false;
  }
  bool ok = true;
  const zip_int64_t n = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; ok && i < n && i < 64; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
        !(st.valid & ZIP_STAT_NAME) || st.size > 4 * size + 4096) {
      ok = false;
      break;
    }
    zip_file_t* f = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (!f) {
      ok = false;
      break;
    }
    Member m{st.name, std::vector<uint8_t>(st.size)};
    ok = zip_fread(f, m.bytes.data(), st.size) == static_cast<zip_int64_t>(st.size);
    zip_fclose(f);
    out.push_back(std::move(m));
  }
  zip_discard(za);
  return ok && !out.empty();
}

// Packs members (stored, uncompressed) into data; returns the size or 0 when it does not fit.
size_t pack(const std::vector<Member>& members, uint8_t* data, size_t max_size) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!src) return 0;
  zip_source_keep(src);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  size_t out = 0;
  if (za) {
    bool ok = true;
    for (const auto& m : members) {
      zip_source_t* ms = zip_source_buffer(za, m.bytes.data(), m.bytes.size(), 0);
      const zip_int64_t idx = ms ? zip_file_add(za, m.name.c_str(), ms, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) : -1;
      if (idx < 0) {
        if (ms) zip_source_free(ms);
        ok = false;
        break;
      }
      zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
    }
    if (ok && zip_close(za) == 0) {
      zip_stat_t st;
      if (zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE) && st.size <= max_size &&
          zip_source_open(src) == 0) {
        if (zip_source_read(src, data, st.size) == static_cast<zip_int64_t>(st.size)) out = st.size;
        zip_source_close(src);
      }
    } else {
      zip_discard(za);
    }
  }
  zip_source_free(src);
  return out;
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  std::vector<Member> members;
  if (rng() % 3 == 0 || !unpack(data, size, members)) return LLVMFuzzerMutate(data, size, max_size);
  Member& m = members[rng() % members.size()];
  const size_t len = m.bytes.size();
  m.bytes.resize(len + len / 4 + 64);
  m.bytes.resize(LLVMFuzzerMutate(m.bytes.data(), len, m.bytes.size()));
  const size_t n = pack(members, data, max_size);
  return n ? n : LLVMFuzzerMutate(data, size, max_size);
}
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wb::Bytes zip = wbfuzz::to_bytes(data, size);
  wb::keras::KerasArchive a;
  if (!wbfuzz::guarded("read_keras_archive_image", [&] { a = wb::keras::read_keras_archive_image(zip, "fuzz.keras"); }))
    return 0;
  for (const auto& l : a.weights.layers)
    for (const auto& w : l.weights) {
      uint64_t n = 0;
      wb::Bytes b;
      if (!wbfuzz::guarded("nbytes", [&] { n = w.tensor.nbytes(); }) || n > wbfuzz::kMaxHarnessTensor) continue;
      if (wbfuzz::guarded("load", [&] { b = w.tensor.load(); }) && b.size() != n)
        wbfuzz::finding("dataset loader returned a byte count that differs from the shape");
    }
  return 0;
}
