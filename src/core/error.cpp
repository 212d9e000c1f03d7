#include "weightbridge/error.h"

namespace wb {

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return 2;
    case ErrorKind::Malformed:
    case ErrorKind::Unsupported: return 3;
    case ErrorKind::Mapping: return 4;
    case ErrorKind::Io: return 5;
  }
  return 3;
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Malformed: return "malformed";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Mapping: return "mapping";
    case ErrorKind::Io: return "io";
  }
  return "?";
}

Error::Error(ErrorKind kind, std::string what, std::string file, std::string where)
    : std::runtime_error(what), kind_(kind), message_(std::move(what)), file_(std::move(file)),
      where_(std::move(where)) {
  refresh();
}

Error& Error::in_file(const std::string& file) {
  if (file_.empty()) file_ = file;
  refresh();
  return *this;
}

Error& Error::add_context(const std::string& where) {
  where_ = where_.empty() ? where : where + ": " + where_;
  refresh();
  return *this;
}

std::string Error::format() const { return full_; }

void Error::refresh() {
  full_.clear();
  if (!file_.empty()) full_ += file_ + ": ";
  if (!where_.empty()) full_ += where_ + ": ";
  full_ += message_;
}

void fail(ErrorKind kind, std::string what, std::string file, std::string where) {
  throw Error(kind, std::move(what), std::move(file), std::move(where));
}

}  // namespace wb
