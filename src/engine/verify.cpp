#include "weightbridge/verify.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>

#include "weightbridge/convert.h"
#include "weightbridge/error.h"

namespace wb {
namespace {

std::vector<const Node*> input_nodes(const Model& m) {
  std::vector<const Node*> out;
  for (const auto& n : m.nodes)
    if (n.op == "Input") out.push_back(&n);
  return out;
}

// The largest index an input may take when it feeds an Embedding (-1 when it does not).
int64_t embedding_range(const Model& m, const std::string& input) {
  for (const auto& n : m.nodes)
    if (n.op == "Embedding" && !n.inputs.empty() && n.inputs[0] == input)
      return n.attrs.value("input_dim", int64_t{1});
  return -1;
}

Array random_input(const Model& m, const Node& in, const VerifyOptions& opt, std::mt19937_64& rng,
                   std::string& description) {
  Shape shape = {opt.batch};
  if (in.attrs.at("shape").empty())
    fail(ErrorKind::Usage, "input '" + in.name + "' has an unknown shape: give --input X.npy or --input-shape");
  for (const auto& d : in.attrs.at("shape")) {
    const int64_t v = d.get<int64_t>();
    if (v <= 0)
      fail(ErrorKind::Usage, "input '" + in.name + "' has an unknown dimension: give --input X.npy or --input-shape");
    shape.push_back(v);
  }
  Array a{shape, std::vector<float>(array_numel(shape))};
  const int64_t range = embedding_range(m, in.name);
  if (range > 0) {
    std::uniform_int_distribution<int64_t> dist(0, range - 1);
    for (auto& v : a.data) v = static_cast<float>(dist(rng));
    description += fmt::format("{}random integers [0, {}) shape {}", description.empty() ? "" : "; ", range, shape_str(shape));
  } else {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& v : a.data) v = dist(rng);
    description += fmt::format("{}random uniform [-1, 1) shape {}", description.empty() ? "" : "; ", shape_str(shape));
  }
  return a;
}

Array transpose(const Array& a, const std::vector<int>& perm) {
  Shape out_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_shape[i] = a.shape[static_cast<size_t>(perm[i])];
  Bytes in(a.data.size() * 4);
  std::memcpy(in.data(), a.data.data(), in.size());
  const Bytes out = permute_bytes(in, a.shape, 4, perm);
  Array r{out_shape, std::vector<float>(a.data.size())};
  std::memcpy(r.data.data(), out.data(), out.size());
  return r;
}

// The same input for b: moved to b's data format when the layers reading the input say the two
// models hold it in different formats; else as is when the shapes agree, else moved between
// channels-first and channels-last when that makes them agree.
Array input_for(const Array& a, const Node& b_in, const std::string& format_a, const std::string& format_b,
                std::vector<std::string>& notes) {
  Shape want = {a.shape.empty() ? 1 : a.shape[0]};
  for (const auto& d : b_in.attrs.at("shape")) want.push_back(d.get<int64_t>());
  auto agrees = [&](const Shape& s) {
    if (s.size() != want.size()) return false;
    for (size_t i = 1; i < s.size(); ++i)
      if (want[i] > 0 && want[i] != s[i]) return false;
    return true;
  };
  const size_t r = a.shape.size();
  std::vector<int> to_last = {0}, to_first = {0, static_cast<int>(r > 0 ? r - 1 : 0)};
  for (size_t i = 2; i < r; ++i) to_last.push_back(static_cast<int>(i));
  to_last.push_back(1);
  for (size_t i = 1; i + 1 < r; ++i) to_first.push_back(static_cast<int>(i));
  if (r >= 3 && !format_a.empty() && !format_b.empty() && format_a != format_b) {
    Array t = transpose(a, format_a == "channels_first" ? to_last : to_first);
    if (agrees(t.shape)) {
      notes.push_back(fmt::format("input '{}' given to b in its data format ({} -> {}): {} -> {}", b_in.name, format_a,
                                  format_b, shape_str(a.shape), shape_str(t.shape)));
      return t;
    }
  }
  if (agrees(a.shape)) return a;
  if (r >= 3) {
    for (const auto& p : {to_last, to_first}) {
      Array t = transpose(a, p);
      if (agrees(t.shape)) {
        notes.push_back(fmt::format("input '{}' given to b in the other data format: {} -> {}", b_in.name,
                                    shape_str(a.shape), shape_str(t.shape)));
        return t;
      }
    }
  }
  fail(ErrorKind::Mapping, fmt::format("input shape {} does not fit b's input '{}' {}", shape_str(a.shape), b_in.name,
                                     shape_str(want)));
}

OutputComparison compare(const Array& a, const Array& b, const VerifyOptions& opt) {
  OutputComparison c;
  c.shape = a.shape;
  c.shape_b = b.shape;
  if (a.shape != b.shape) {
    c.within = false;
    c.max_abs = INFINITY;
    return c;
  }
  double worst_excess = -1;
  for (size_t i = 0; i < a.data.size(); ++i) {
    const double x = a.data[i], y = b.data[i];
    const double d = std::isnan(x) || std::isnan(y) ? (std::isnan(x) && std::isnan(y) ? 0.0 : INFINITY) : std::fabs(x - y);
    const double excess = d - (opt.atol + opt.rtol * std::fabs(x));
    if (d > c.max_abs) c.max_abs = d;
    if (d > 0) c.max_rel = std::max(c.max_rel, d / std::max(std::fabs(x), std::fabs(y)));
    if (excess > worst_excess) {
      worst_excess = excess;
      c.worst_index = i;
      c.worst_a = a.data[i];
      c.worst_b = b.data[i];
    }
    if (excess > 0) c.within = false;
  }
  return c;
}

// b's value of a tensor moved to a's data format when the two hold it differently.
Array in_a_format(const Array& v, const std::string& format_a, const std::string& format_b) {
  const size_t r = v.shape.size();
  if (r < 3 || format_a.empty() || format_b.empty() || format_a == format_b) return v;
  std::vector<int> p = {0};
  if (format_a == "channels_last") {  // b is channels_first
    for (size_t i = 2; i < r; ++i) p.push_back(static_cast<int>(i));
    p.push_back(1);
  } else {
    p.push_back(static_cast<int>(r - 1));
    for (size_t i = 1; i + 1 < r; ++i) p.push_back(static_cast<int>(i));
  }
  return transpose(v, p);
}

std::string format_of(const std::map<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

// The first layer of a (in graph order) whose output differs from the same-named layer of b.
void localise(const Model& a, const Model& b, const std::map<std::string, Array>& feed_a,
              const std::map<std::string, Array>& feed_b, const VerifyOptions& opt, VerifyResult& r) {
  const auto all_a = run_model(a, feed_a, true), all_b = run_model(b, feed_b, true);
  const auto formats_a = data_formats(a), formats_b = data_formats(b);
  for (const auto& n : a.nodes) {
    if (n.op == "Input") continue;
    const Node* m = b.find(n.name);
    if (!m || m->op != n.op || m->attrs.value("activation", "") != n.attrs.value("activation", "")) continue;
    const auto ia = all_a.find(n.name), ib = all_b.find(n.name);
    if (ia == all_a.end() || ib == all_b.end()) continue;
    const Array vb = in_a_format(ib->second, format_of(formats_a, n.name), format_of(formats_b, n.name));
    if (ia->second.shape != vb.shape) continue;
    const OutputComparison c = compare(ia->second, vb, opt);
    if (!c.within) {
      r.first_divergence = n.name;
      r.divergence_max_abs = c.max_abs;
      return;
    }
  }
}

}  // namespace

VerifyResult verify_models(const Model& a, const Model& b, std::vector<Array> inputs, const VerifyOptions& opt) {
  VerifyResult r;
  const auto ins_a = input_nodes(a), ins_b = input_nodes(b);
  if (ins_a.size() != ins_b.size())
    fail(ErrorKind::Mapping, fmt::format("the models have different input counts ({} vs {})", ins_a.size(), ins_b.size()));
  if (inputs.empty()) {
    std::mt19937_64 rng(opt.seed);
    for (const Node* in : ins_a) inputs.push_back(random_input(a, *in, opt, rng, r.input_description));
    r.input_description += fmt::format(", seed {}", opt.seed);
  } else if (inputs.size() != ins_a.size()) {
    fail(ErrorKind::Usage, fmt::format("the model has {} input(s) but {} were given", ins_a.size(), inputs.size()));
  }
  std::map<std::string, Array> feed_a, feed_b;
  const auto formats_a = data_formats(a), formats_b = data_formats(b);
  for (size_t i = 0; i < inputs.size(); ++i) {
    feed_a[ins_a[i]->name] = inputs[i];
    feed_b[ins_b[i]->name] =
        input_for(inputs[i], *ins_b[i], formats_a.at(ins_a[i]->name), formats_b.at(ins_b[i]->name), r.notes);
  }
  const auto out_a = run_model(a, feed_a), out_b = run_model(b, feed_b);
  if (a.outputs.size() != b.outputs.size())
    fail(ErrorKind::Mapping, fmt::format("the models have different output counts ({} vs {})", a.outputs.size(), b.outputs.size()));
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    const std::string fa = format_of(formats_a, a.outputs[i]), fb = format_of(formats_b, b.outputs[i]);
    const Array& yb = out_b.at(b.outputs[i]);
    const Array yb_a = in_a_format(yb, fa, fb);
    if (fa != fb && !fa.empty() && !fb.empty() && yb.shape.size() >= 3)
      r.notes.push_back(fmt::format("output '{}' of b compared in a's data format ({} -> {}): {} -> {}", b.outputs[i], fb,
                                    fa, shape_str(yb.shape), shape_str(yb_a.shape)));
    OutputComparison c = compare(out_a.at(a.outputs[i]), yb_a, opt);
    c.name_a = a.outputs[i];
    c.name_b = b.outputs[i];
    r.ok = r.ok && c.within;
    r.outputs.push_back(c);
  }
  if (!r.ok) localise(a, b, feed_a, feed_b, opt, r);
  return r;
}

}  // namespace wb
