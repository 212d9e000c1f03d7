#include "common.h"

#include <sstream>

#include "weightbridge/error.h"

namespace wbcli {

namespace {

wb::Shape parse_shape(const std::string& s) {
  wb::Shape out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      out.push_back(v);
    } catch (const std::exception&) {
      wb::fail(wb::ErrorKind::Usage, "--input-shape must be positive integers separated by commas, e.g. 1,28,28");
    }
  }
  return out;
}

}  // namespace

wb::ImportOptions import_options(const std::string& kernel_flip, const std::string& input_shape) {
  wb::ImportOptions io;
  if (!kernel_flip.empty()) {
    if (kernel_flip != "yes" && kernel_flip != "no") wb::fail(wb::ErrorKind::Usage, "--kernel-flip takes yes or no");
    io.kernel_flip = kernel_flip == "yes";
  }
  if (!input_shape.empty()) io.input_shape = parse_shape(input_shape);
  return io;
}

}  // namespace wbcli
