#include "core/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace wb {

Bytes ByteSource::read_bytes(uint64_t offset, uint64_t n) const {
  if (offset > size() || n > size() - offset)
    fail(ErrorKind::Malformed,
         fmt::format("truncated: {} bytes needed at offset {}, {} available", n, offset,
                     offset > size() ? 0 : size() - offset),
         name());
  Bytes b(static_cast<size_t>(n));
  if (n) read_at(offset, b.data(), n);
  return b;
}

namespace {

class FileSource : public ByteSource {
 public:
  FileSource(int fd, uint64_t size, std::string name) : fd_(fd), size_(size), name_(std::move(name)) {}
  ~FileSource() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }
  void read_at(uint64_t offset, void* dst, uint64_t n) const override {
    if (offset > size_ || n > size_ - offset)
      fail(ErrorKind::Malformed, fmt::format("truncated: {} bytes needed at offset {}", n, offset), name_);
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
      const ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
      if (got < 0) {
        if (errno == EINTR) continue;
        fail(ErrorKind::Io, std::string("read failed: ") + std::strerror(errno), name_);
      }
      if (got == 0) fail(ErrorKind::Malformed, "file shrank while reading", name_);
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  }

 private:
  int fd_;
  uint64_t size_;
  std::string name_;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(Bytes data, std::string name) : data_(std::move(data)), name_(std::move(name)) {}
  uint64_t size() const override { return data_.size(); }
  const std::string& name() const override { return name_; }
  void read_at(uint64_t offset, void* dst, uint64_t n) const override {
    if (offset > data_.size() || n > data_.size() - offset)
      fail(ErrorKind::Malformed, fmt::format("truncated: {} bytes needed at offset {}", n, offset), name_);
    if (n) std::memcpy(dst, data_.data() + offset, static_cast<size_t>(n));
  }

 private:
  Bytes data_;
  std::string name_;
};

}  // namespace

std::shared_ptr<ByteSource> open_file_source(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::Io, std::string("cannot open: ") + std::strerror(errno), path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::Io, "not a regular file", path);
  }
  return std::make_shared<FileSource>(fd, static_cast<uint64_t>(st.st_size), path);
}

std::shared_ptr<ByteSource> memory_source(Bytes data, std::string name) {
  return std::make_shared<MemorySource>(std::move(data), std::move(name));
}

void Cursor::need(uint64_t n, const std::string& what) const {
  if (n > remaining())
    fail(ErrorKind::Malformed,
         fmt::format("truncated: {} needs {} bytes at offset {}, {} available", what, n, pos_, remaining()),
         src_.name());
}

void Cursor::skip(uint64_t n, const std::string& what) {
  need(n, what);
  pos_ += n;
}

uint32_t Cursor::u32(const std::string& what) {
  need(4, what);
  uint8_t b[4];
  src_.read_at(pos_, b, 4);
  pos_ += 4;
  return le_u32(b);
}
int32_t Cursor::i32(const std::string& what) { return static_cast<int32_t>(u32(what)); }
uint64_t Cursor::u64(const std::string& what) {
  need(8, what);
  uint8_t b[8];
  src_.read_at(pos_, b, 8);
  pos_ += 8;
  return le_u64(b);
}
int64_t Cursor::i64(const std::string& what) { return static_cast<int64_t>(u64(what)); }

std::string Cursor::str(uint64_t n, const std::string& what) {
  need(n, what);
  std::string s(static_cast<size_t>(n), '\0');
  if (n) src_.read_at(pos_, s.data(), n);
  pos_ += n;
  return s;
}

Bytes Cursor::bytes(uint64_t n, const std::string& what) {
  need(n, what);
  Bytes b = src_.read_bytes(pos_, n);
  pos_ += n;
  return b;
}

uint32_t le_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t le_u64(const uint8_t* p) {
  return static_cast<uint64_t>(le_u32(p)) | static_cast<uint64_t>(le_u32(p + 4)) << 32;
}
void put_u32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_i32(Bytes& b, int32_t v) { put_u32(b, static_cast<uint32_t>(v)); }
void put_i64(Bytes& b, int64_t v) { put_u64(b, static_cast<uint64_t>(v)); }

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  auto src = open_file_source(path);
  if (src->size() > max_bytes)
    fail(ErrorKind::Malformed, fmt::format("file is {} bytes, more than the {} allowed here", src->size(), max_bytes), path);
  std::string s(static_cast<size_t>(src->size()), '\0');
  if (!s.empty()) src->read_at(0, s.data(), s.size());
  return s;
}

AtomicFile::AtomicFile(std::string target) : target_(std::move(target)) {
  std::random_device rd;
  temp_ = fmt::format("{}.wbtmp-{:08x}", target_, rd());
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) ::unlink(temp_.c_str());
}

FILE* AtomicFile::stream() {
  if (!f_) {
    f_ = std::fopen(temp_.c_str(), "wbx");
    if (!f_) fail(ErrorKind::Io, std::string("cannot create: ") + std::strerror(errno), target_);
  }
  return f_;
}

void AtomicFile::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, stream()) != n)
    fail(ErrorKind::Io, std::string("write failed: ") + std::strerror(errno), target_);
}

void AtomicFile::prepare() {
  if (prepared_) return;
  if (f_) {
    const bool ok = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
    const int err = errno;
    std::fclose(f_);
    f_ = nullptr;
    if (!ok) fail(ErrorKind::Io, std::string("write failed: ") + std::strerror(err), target_);
  } else {
    // Written by another library (HDF5) through temp_path(), or never created.
    const int fd = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(ErrorKind::Io, std::string("temporary file missing: ") + std::strerror(errno), target_);
    const bool ok = ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) fail(ErrorKind::Io, std::string("write failed: ") + std::strerror(err), target_);
  }
  prepared_ = true;
}

void AtomicFile::commit() { commit_all({this}); }

namespace {

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Makes the renames themselves durable.
void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void commit_all(const std::vector<AtomicFile*>& files) {
  for (AtomicFile* f : files) f->prepare();
  for (AtomicFile* f : files) {
    struct stat st {};
    if (::stat(f->target_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      fail(ErrorKind::Io, "cannot write: the output path is a directory", f->target_);
  }
  // Hard links to the old targets, so that a failed later rename can restore them.
  std::vector<std::string> backups(files.size());
  std::vector<bool> existed(files.size(), false);
  std::random_device rd;
  for (size_t i = 0; i < files.size(); ++i) {
    existed[i] = file_exists(files[i]->target_);
    if (existed[i] && files.size() > 1) {
      const std::string b = fmt::format("{}.wbtmp-old-{:08x}", files[i]->target_, rd());
      if (::link(files[i]->target_.c_str(), b.c_str()) == 0) backups[i] = b;
    }
  }
  auto cleanup_backups = [&] {
    for (const auto& b : backups)
      if (!b.empty()) ::unlink(b.c_str());
  };
  for (size_t i = 0; i < files.size(); ++i) {
    AtomicFile& f = *files[i];
    if (::rename(f.temp_.c_str(), f.target_.c_str()) != 0) {
      const int err = errno;
      for (size_t j = 0; j < i; ++j) {  // undo the renames already done
        if (!backups[j].empty()) ::rename(backups[j].c_str(), files[j]->target_.c_str());
        else if (!existed[j]) ::unlink(files[j]->target_.c_str());
        backups[j].clear();
      }
      cleanup_backups();
      fail(ErrorKind::Io, std::string("cannot rename into place: ") + std::strerror(err), f.target_);
    }
    f.committed_ = true;
  }
  cleanup_backups();
  std::vector<std::string> dirs;
  for (AtomicFile* f : files) {
    const std::string d = dir_of(f->target_);
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  for (const auto& d : dirs) fsync_dir(d);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace wb
