// One exception type for every failure weightbridge reports. It carries a kind (mapped to the
// command-line exit code), the file it concerns, and a location trail that grows as it propagates.
#pragma once
#include <stdexcept>
#include <string>

namespace wb {

enum class ErrorKind {
  Usage,        // the command line is wrong                      -> exit 2
  Malformed,    // the input violates its format                  -> exit 3
  Unsupported,  // valid input that weightbridge cannot handle     -> exit 3
  Mapping,      // weights missing, extra or not matching         -> exit 4
  Io,           // cannot open/read/write                          -> exit 5
};

int exit_code(ErrorKind kind);
const char* kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string what, std::string file = {}, std::string where = {});

  ErrorKind kind() const { return kind_; }
  const std::string& file() const { return file_; }
  const std::string& where() const { return where_; }
  const std::string& message() const { return message_; }

  // Sets the file if none is set yet.
  Error& in_file(const std::string& file);
  // Prepends a location ("layer conv2d_1" + "weight kernel" -> "layer conv2d_1: weight kernel").
  Error& add_context(const std::string& where);

  // "FILE: where: what" as printed after "weightbridge: ".
  std::string format() const;

 private:
  void refresh();
  ErrorKind kind_;
  std::string message_, file_, where_;
  std::string full_;
};

[[noreturn]] void fail(ErrorKind kind, std::string what, std::string file = {}, std::string where = {});

}  // namespace wb
