// Byte-level I/O: bounded readers over files or memory, little-endian decoding, and atomic
// output files (temporary file beside the target, renamed into place on commit).
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "weightbridge/error.h"
#include "weightbridge/tensor.h"

namespace wb {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at offset; throws Malformed ("truncated") if they are not there.
  virtual void read_at(uint64_t offset, void* dst, uint64_t n) const = 0;
  virtual const std::string& name() const = 0;
  Bytes read_bytes(uint64_t offset, uint64_t n) const;
};

std::shared_ptr<ByteSource> open_file_source(const std::string& path);
std::shared_ptr<ByteSource> memory_source(Bytes data, std::string name);

// Sequential, bounds-checked reader. Every read is checked against the bytes that remain.
class Cursor {
 public:
  explicit Cursor(const ByteSource& src, uint64_t pos = 0) : src_(src), pos_(pos) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return pos_ >= src_.size() ? 0 : src_.size() - pos_; }
  void seek(uint64_t pos) { pos_ = pos; }
  // Throws Malformed "truncated: <what> needs N bytes at offset X, M available".
  void need(uint64_t n, const std::string& what) const;
  void skip(uint64_t n, const std::string& what);
  uint32_t u32(const std::string& what);
  int32_t i32(const std::string& what);
  uint64_t u64(const std::string& what);
  int64_t i64(const std::string& what);
  std::string str(uint64_t n, const std::string& what);
  Bytes bytes(uint64_t n, const std::string& what);
  const ByteSource& source() const { return src_; }

 private:
  const ByteSource& src_;
  uint64_t pos_;
};

uint32_t le_u32(const uint8_t* p);
uint64_t le_u64(const uint8_t* p);
void put_u32(Bytes& b, uint32_t v);
void put_u64(Bytes& b, uint64_t v);
void put_i32(Bytes& b, int32_t v);
void put_i64(Bytes& b, int64_t v);

// Reads a whole (small) file; refuses files above max_bytes.
std::string read_text_file(const std::string& path, uint64_t max_bytes = uint64_t{1} << 30);

// Output file written through a temporary name and renamed into place by commit().
// If commit() is never reached the temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  const std::string& temp_path() const { return temp_; }
  const std::string& target() const { return target_; }
  FILE* stream();  // opened lazily, binary
  void write(const void* data, size_t n);
  void write(const Bytes& b) { write(b.data(), b.size()); }
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Closes the stream (if any), fsyncs and renames over the target.
  void commit();
  // First half of commit: closes and fsyncs the temporary file, no rename (see commit_all).
  void prepare();

 private:
  friend void commit_all(const std::vector<AtomicFile*>& files);
  std::string target_, temp_;
  FILE* f_ = nullptr;
  bool prepared_ = false;
  bool committed_ = false;
};

// Commits several files as one step, in the order given: every file is written and fsynced
// first, targets that are directories are refused before anything is renamed, and when a later
// rename fails the earlier targets are put back (old content restored through a hard link
// taken before the renames, or removed if there was none). What remains is the crash window
// between the renames: a SIGKILL or power loss there leaves the earlier targets new and the later
// ones old, plus a backup file TARGET.wbtmp-old-XXXXXXXX.
void commit_all(const std::vector<AtomicFile*>& files);

// True when the two paths name the same existing file.
bool same_file(const std::string& a, const std::string& b);
bool file_exists(const std::string& path);

}  // namespace wb
