#include "weightbridge/checks.h"

#include <cmath>

namespace wb {

std::vector<std::string> batchnorm_statistics_at_initial_values(const Model& m) {
  std::vector<std::string> out;
  auto all = [](const Weight* w, double v) {
    if (!w) return true;
    for (double x : to_f64(w->stored.load(), w->stored.dtype))
      if (x != v) return false;
    return true;
  };
  for (const auto& n : m.nodes) {
    if (n.op != "BatchNorm") continue;
    const Weight *mean = n.weight("moving_mean"), *var = n.weight("moving_variance");
    if (!mean || !var || !all(mean, 0.0) || !all(var, 1.0)) continue;
    if (!all(n.weight("gamma"), 1.0) || !all(n.weight("beta"), 0.0)) out.push_back(n.name);
  }
  return out;
}

CastReport cast_report(const Tensor& original, const Tensor& cast_result) {
  const auto a = to_f64(original.load(), original.dtype);
  const auto b = to_f64(cast_result.load(), cast_result.dtype);
  CastReport r;
  r.count = a.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) && std::isnan(y)) continue;
    if (x == y) continue;
    ++r.changed;
    if (std::isfinite(x) && !std::isfinite(y)) {
      ++r.overflow;
      r.largest = std::max(r.largest, std::fabs(x));
      continue;
    }
    if (x != 0 && y == 0) ++r.underflow;
    if (!std::isfinite(y)) continue;
    r.max_abs = std::max(r.max_abs, std::fabs(y - x));
    if (x != 0) r.max_rel = std::max(r.max_rel, std::fabs(y - x) / std::fabs(x));
  }
  return r;
}

}  // namespace wb
