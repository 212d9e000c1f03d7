// Tensor comparison. Each weight is known in two forms: as its file stores it, and in the
// canonical layout. Equal stored bytes = identical; equal canonical values = the two files hold
// the same weight in different layouts, and the stored-to-stored permutation names the transform.
#include "weightbridge/diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "model/rnn_rules.h"
#include "model/transforms.h"

namespace wb {
namespace {

struct Stats {
  double max_abs = 0, max_rel = 0;
  bool equal = false;
};

Stats compare(const std::vector<double>& a, const std::vector<double>& b) {
  Stats s;
  if (a.size() != b.size()) return s;
  s.equal = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool nan_a = std::isnan(a[i]), nan_b = std::isnan(b[i]);
    if (nan_a || nan_b) {
      if (nan_a != nan_b) s.equal = false, s.max_abs = INFINITY;
      continue;
    }
    if (a[i] == b[i]) continue;
    s.equal = false;
    const double d = std::fabs(a[i] - b[i]);
    s.max_abs = std::max(s.max_abs, d);
    s.max_rel = std::max(s.max_rel, d / std::max(std::fabs(a[i]), std::fabs(b[i])));
  }
  return s;
}

std::vector<std::string> value_notes(const std::vector<double>& v, const char* side) {
  std::vector<std::string> out;
  bool all_zero = true, constant = true, bad = false;
  for (double x : v) {
    all_zero = all_zero && x == 0;
    constant = constant && x == v.front();
    bad = bad || !std::isfinite(x);
  }
  if (v.empty()) return out;
  if (all_zero) out.push_back(std::string(side) + " is all zeros");
  else if (constant && v.size() > 1) out.push_back(fmt::format("{} is constant ({})", side, v.front()));
  if (bad) out.push_back(std::string(side) + " has NaN/Inf");
  return out;
}

// Relative rounding unit of a float dtype (half an ulp at 1).
double rounding_unit(DType t) {
  switch (t) {
    case DType::F16: return std::ldexp(1.0, -11);
    case DType::BF16: return std::ldexp(1.0, -8);
    case DType::F32: return std::ldexp(1.0, -24);
    default: return 0;
  }
}

// The permutation in a Weight::transform of the form "transpose(2, 3, 1, 0)"; identity otherwise.
std::vector<int> parse_transpose(const std::string& t, size_t rank) {
  std::vector<int> p;
  if (t.rfind("transpose(", 0) == 0 && t.find('+') == std::string::npos) {
    std::string digits = t.substr(10);
    int v = 0;
    bool any = false;
    for (char ch : digits) {
      if (std::isdigit(static_cast<unsigned char>(ch))) { v = v * 10 + (ch - '0'); any = true; }
      else if (any) { p.push_back(v); v = 0; any = false; }
    }
  }
  if (p.size() != rank) {
    p.resize(rank);
    for (size_t i = 0; i < rank; ++i) p[i] = static_cast<int>(i);
  }
  return p;
}

// The permutation q with stored_b = transpose(stored_a, q), when both are permutations of the
// same canonical tensor; empty when shapes say otherwise.
std::vector<int> stored_to_stored(const Weight& a, const Weight& b) {
  const size_t r = a.stored.shape.size();
  if (r != b.stored.shape.size() || r < 2) return {};
  // Try every permutation for small ranks (kernels have rank <= 5).
  std::vector<int> q(r);
  for (size_t i = 0; i < r; ++i) q[i] = static_cast<int>(i);
  std::vector<std::vector<int>> candidates;
  do {
    if (permute_shape(a.stored.shape, q) == b.stored.shape) candidates.push_back(q);
  } while (std::next_permutation(q.begin(), q.end()));
  if (candidates.empty()) return {};
  // The permutation the layout rules imply comes first (it is ambiguous only over size-1 axes).
  const auto pa = parse_transpose(a.transform, r), pb = parse_transpose(b.transform, r);
  const auto inv_pb = inverse_perm(pb);
  std::vector<int> implied(r);
  for (size_t i = 0; i < r; ++i) implied[i] = pa[static_cast<size_t>(inv_pb[i])];
  if (std::find(candidates.begin(), candidates.end(), implied) != candidates.end())
    candidates.insert(candidates.begin(), implied);
  const Bytes sb = b.stored.load(), sa = a.stored.load();
  for (const auto& c : candidates) {
    bool identity = true;
    for (size_t i = 0; i < c.size(); ++i) identity = identity && c[i] == static_cast<int>(i);
    if (identity) continue;
    if (permute_bytes(sa, a.stored.shape, dtype_size(a.stored.dtype), c) == sb) return c;
  }
  return {};
}

// ---- recurrent weights ----
// A recurrent weight is held by its file in one of several forms: Keras 2 fused matrices, Keras 1
// per-gate arrays, CuDNN per-gate buffers, or a slice of MXNet's flat fused-RNN vector. The
// importers record which in Weight::source / Weight::transform (rnn_rules.cpp); the canonical
// tensor is then the only stored form there is, so equal bytes do not mean equal files.

bool is_rnn(const Node& n) { return n.op == "RNN" || n.op == "Bidirectional"; }

std::string gate_order(const std::string& cell, bool mxnet, bool keras1) {
  if (cell == "lstm") return keras1 ? "i,c,f,o" : "i,f,c,o";
  if (cell == "gru") return mxnet ? "r,z,n" : "z,r,h";
  return "";
}

// The file form of a recurrent weight; `plain` = the Keras 2 fused layout, as the file holds it.
std::string rnn_form(const Node& n, const Weight& w, bool& plain) {
  const std::string cell = n.attrs.value("cell", "");
  const bool recurrent = w.role.find("recurrent_kernel") != std::string::npos;
  const bool bias = !recurrent && w.role.find("bias") != std::string::npos;
  const std::string what = recurrent ? "recurrent kernel" : bias ? "bias" : "kernel";
  const std::string shape = shape_str(w.tensor.shape);
  plain = false;
  if (w.source.find('+') != std::string::npos)
    return fmt::format("Keras 1 per-gate {} arrays, {} in gate order {}", what,
                       std::count(w.source.begin(), w.source.end(), '+') + 1, gate_order(cell, false, true));
  if (w.transform.find("flat parameters") != std::string::npos && w.tensor.shape.size() == 2)
    return fmt::format("MXNet fused RNN parameters {}: {} {} (gates {})", w.source, recurrent ? "W_h2h" : "W_i2h",
                       shape_str({w.tensor.shape[1], w.tensor.shape[0]}), gate_order(cell, true, false));
  if (w.transform.find("b_i2h") != std::string::npos)
    return fmt::format("MXNet fused RNN parameters {}: {} (gates {})", w.source,
                       w.transform.find("zero") != std::string::npos ? "b_i2h, b_h2h = 0"
                       : w.transform.find("sum") != std::string::npos ? "b_i2h + b_h2h" : "b_i2h, b_h2h",
                       gate_order(cell, true, false));
  if (w.transform.find("CuDNN") != std::string::npos || w.transform.find("(6u,)") != std::string::npos)
    return fmt::format("CuDNN {} {} ({})", what, w.source, w.transform);
  plain = true;
  if (n.attrs.value("per_step_export", false))  // regroup_unrolled: MXNet variables in Keras' gate order
    return fmt::format("MXNet per-step {} {} {} (gates {})", what, w.source, shape_str(w.stored.shape), gate_order(cell, false, false));
  return fmt::format("Keras fused {} {} (gates {})", what, shape, gate_order(cell, false, false));
}

TensorDiff classify(const Node& na, const Weight& a, const Node& nb, const Weight& b) {
  TensorDiff d;
  d.layer_a = na.name;
  d.layer_b = nb.name;
  d.role = a.role;
  d.name_a = a.source;
  d.name_b = b.source;
  d.shape_a = a.stored.shape;
  d.shape_b = b.stored.shape;
  // Recurrent weights in different file forms: the transform is the gate regrouping between them.
  bool plain_a = true, plain_b = true;
  std::string form_a, form_b;
  if (is_rnn(na) && is_rnn(nb)) {
    form_a = rnn_form(na, a, plain_a);
    form_b = rnn_form(nb, b, plain_b);
  }
  const bool regrouped = form_a != form_b && (!plain_a || !plain_b);
  const Bytes sa = a.stored.load(), sb = b.stored.load();
  if (!regrouped && a.stored.dtype == b.stored.dtype && a.stored.shape == b.stored.shape && sa == sb) {
    d.verdict = "identical";
    return d;
  }
  const auto va = to_f64(a.tensor.load(), a.tensor.dtype), vb = to_f64(b.tensor.load(), b.tensor.dtype);
  const bool same_shape = a.tensor.shape == b.tensor.shape;
  const Stats st = same_shape ? compare(va, vb) : Stats{};
  if (regrouped && same_shape && a.stored.dtype == b.stored.dtype && st.equal) {
    d.verdict = "transform";
    d.transform = "gate regrouping: " + form_a + " -> " + form_b;
    return d;
  }
  if (same_shape && a.stored.dtype == b.stored.dtype && st.equal) {
    d.verdict = "transform";
    if (auto q = stored_to_stored(a, b); !q.empty()) d.transform = "transpose" + perm_str(q);
    else if (a.transform.empty() && b.transform.empty()) d.transform = "reshape " + shape_str(a.stored.shape) + " -> " + shape_str(b.stored.shape);
    else d.transform = "a: " + (a.transform.empty() ? std::string("as stored") : a.transform) + "; b: " +
                       (b.transform.empty() ? std::string("as stored") : b.transform);
    return d;
  }
  if (same_shape && a.tensor.dtype != b.tensor.dtype) {
    // A cast: equal within the narrower dtype's rounding.
    const double unit = std::max(rounding_unit(a.tensor.dtype), rounding_unit(b.tensor.dtype));
    if (unit > 0 && (st.equal || st.max_rel <= unit)) {
      d.verdict = "transform";
      d.transform = fmt::format("cast {}->{} (max rounding error {:.3g})", dtype_name(a.tensor.dtype),
                                dtype_name(b.tensor.dtype), st.max_abs);
      d.max_abs = st.max_abs;
      d.max_rel = st.max_rel;
      return d;
    }
  }
  if (same_shape && (na.op == "Conv") && a.tensor.shape.size() >= 3) {
    const int rank = static_cast<int>(a.tensor.shape.size()) - 2;
    if (compare(to_f64(flipped_spatial(a.tensor, rank).load(), a.tensor.dtype), vb).equal) {
      d.verdict = "transform";
      d.transform = "kernel flip (spatial axes reversed: Theano convolution vs correlation)";
      return d;
    }
  }
  d.verdict = "different";
  d.max_abs = st.max_abs;
  d.max_rel = st.max_rel;
  if (!same_shape) d.notes.push_back("canonical shapes differ: " + shape_str(a.tensor.shape) + " vs " + shape_str(b.tensor.shape));
  for (auto& n : value_notes(va, "a")) d.notes.push_back(n);
  for (auto& n : value_notes(vb, "b")) d.notes.push_back(n);
  return d;
}

std::vector<const Node*> weighted(const Model& m) {
  std::vector<const Node*> out;
  for (const auto& n : m.nodes)
    if (!n.weights.empty()) out.push_back(&n);
  return out;
}

void only_side(std::vector<TensorDiff>& out, const Node& n, bool a_side) {
  for (const auto& w : n.weights) {
    TensorDiff d;
    (a_side ? d.layer_a : d.layer_b) = n.name;
    (a_side ? d.name_a : d.name_b) = w.source;
    (a_side ? d.shape_a : d.shape_b) = w.stored.shape;
    d.role = w.role;
    d.verdict = a_side ? "only-a" : "only-b";
    out.push_back(d);
  }
}

// Weights of a recurrent layer that weightbridge exported to MXNet as per-step ops (mxnet_export.cpp,
// namespace unroll): variables <layer><dir>_i2h_weight (G u, C), _i2h_bias, _h2h_weight (G u, u)
// (GRU reset_after=False: (2u, u) plus _h2h_candidate_weight (u, u)) and _h2h_bias (GRU
// reset_after=True), each read by one Dense node per time step. For every recurrent layer of
// `other` whose variables `m` holds, those Dense nodes are replaced by one node with the layer's
// canonical weights, so the two sides pair layer by layer.
Model regroup_unrolled(const Model& m, const Model& other) {
  std::map<std::string, const Weight*> by_source;
  for (const auto& n : m.nodes)
    for (const auto& w : n.weights) by_source.emplace(w.source, &w);
  Model out = m;
  std::set<std::string> absorbed;  // variable names taken into a regrouped layer
  for (const auto& r : other.nodes) {
    if (!is_rnn(r)) continue;
    // Matrices (G u, in) hold the canonical (in, G u) transposed; ConvLSTM convolution weights
    // (4f, in, k...) the canonical (k..., in, 4f).
    const bool conv = r.attrs.value("cell", "") == "convlstm";
    const size_t rank = conv ? r.attrs.value("rank", size_t{2}) + 2 : 2;
    std::vector<int> to_canonical;
    for (size_t i = 2; i < rank; ++i) to_canonical.push_back(static_cast<int>(i));
    to_canonical.push_back(1);
    to_canonical.push_back(0);
    const std::string how = "transpose" + perm_str(to_canonical);
    const bool bidi = r.op == "Bidirectional";
    Node v;
    v.name = r.name;
    v.op = r.op;
    v.attrs = r.attrs;
    v.attrs["per_step_export"] = true;
    bool ok = true;
    for (const std::string& dir : bidi ? std::vector<std::string>{"forward", "backward"} : std::vector<std::string>{""}) {
      const std::string base = r.name + (dir.empty() ? "" : "_" + dir), prefix = dir.empty() ? "" : dir + "_";
      auto var = [&](const std::string& suffix) -> const Weight* {
        auto it = by_source.find(base + suffix);
        return it == by_source.end() ? nullptr : it->second;
      };
      const Weight *wi = var("_i2h_weight"), *wh = var("_h2h_weight"), *wc = var("_h2h_candidate_weight");
      const Weight *bi = var("_i2h_bias"), *bh = var("_h2h_bias");
      if (!wi || !wh || wi->stored.shape.size() != rank || wh->stored.shape.size() != rank || (conv && wc)) {
        ok = false;
        break;
      }
      v.weights.push_back(Weight{prefix + "kernel", permuted(wi->stored, to_canonical), wi->source, how, wi->stored});
      Tensor rec = wh->stored;
      std::string rec_source = wh->source;
      if (wc) {  // rows z, r then h: one (3u, u) matrix
        if (wc->stored.shape.size() != 2 || wc->stored.shape[1] != rec.shape[1]) { ok = false; break; }
        rec = reshaped(concat_flat(base + "_h2h", {rec, wc->stored}), {rec.shape[0] + wc->stored.shape[0], rec.shape[1]});
        rec_source += " and " + wc->source;
      }
      v.weights.push_back(Weight{prefix + "recurrent_kernel", permuted(rec, to_canonical), rec_source, how, rec});
      if (bi && bh) {  // GRU reset_after: rows input, recurrent
        const Tensor both = reshaped(concat_flat(base + "_bias", {bi->stored, bh->stored}), {2, static_cast<int64_t>(bi->stored.numel())});
        v.weights.push_back(Weight{prefix + "bias", both, bi->source + " and " + bh->source, "", both});
      } else if (bi) {
        v.weights.push_back(Weight{prefix + "bias", bi->stored, bi->source, "", bi->stored});
      }
      for (const Weight* w : {wi, wh, wc, bi, bh})
        if (w) absorbed.insert(w->source);
    }
    if (!ok || v.weights.empty()) continue;
    out.nodes.push_back(std::move(v));
  }
  if (absorbed.empty()) return out;
  // Dense / Conv nodes whose weights all went into a regrouped layer leave the comparison.
  out.nodes.erase(std::remove_if(out.nodes.begin(), out.nodes.end(),
                                 [&](const Node& n) {
                                   if ((n.op != "Dense" && n.op != "Conv") || n.weights.empty()) return false;
                                   for (const auto& w : n.weights)
                                     if (!absorbed.count(w.source)) return false;
                                   return true;
                                 }),
                  out.nodes.end());
  return out;
}

}  // namespace

std::vector<TensorDiff> diff_models(const Model& a_in, const Model& b_in) {
  const Model a = regroup_unrolled(a_in, b_in), b = regroup_unrolled(b_in, a);
  std::vector<const Node*> la = weighted(a), lb = weighted(b);
  std::vector<std::pair<const Node*, const Node*>> pairs;
  std::set<const Node*> used_b;
  std::vector<const Node*> rest_a;
  for (const Node* n : la) {
    const Node* m = b.find(n->name);
    if (m && !m->weights.empty() && m->op == n->op) {
      pairs.emplace_back(n, m);
      used_b.insert(m);
    } else {
      rest_a.push_back(n);
    }
  }
  std::vector<const Node*> rest_b;
  for (const Node* n : lb)
    if (!used_b.count(n)) rest_b.push_back(n);
  // Left-over layers: pair in order among layers of the same kind.
  std::vector<const Node*> unpaired_a;
  size_t j = 0;
  for (const Node* n : rest_a) {
    size_t k = j;
    while (k < rest_b.size() && rest_b[k]->op != n->op) ++k;
    if (k < rest_b.size()) {
      pairs.emplace_back(n, rest_b[k]);
      rest_b.erase(rest_b.begin() + static_cast<std::ptrdiff_t>(k));
      j = k;
    } else {
      unpaired_a.push_back(n);
    }
  }
  std::vector<TensorDiff> out;
  for (const auto& [na, nb] : pairs) {
    std::set<std::string> roles_b;
    for (const auto& wb_ : nb->weights) roles_b.insert(wb_.role);
    for (const auto& wa : na->weights) {
      const Weight* wb_ = nb->weight(wa.role);
      if (!wb_) {
        TensorDiff d;
        d.layer_a = na->name;
        d.name_a = wa.source;
        d.role = wa.role;
        d.shape_a = wa.stored.shape;
        d.verdict = "only-a";
        out.push_back(d);
        continue;
      }
      roles_b.erase(wa.role);
      out.push_back(classify(*na, wa, *nb, *wb_));
    }
    for (const auto& r : roles_b) {
      const Weight* w = nb->weight(r);
      TensorDiff d;
      d.layer_b = nb->name;
      d.name_b = w->source;
      d.role = r;
      d.shape_b = w->stored.shape;
      d.verdict = "only-b";
      out.push_back(d);
    }
  }
  for (const Node* n : unpaired_a) only_side(out, *n, true);
  for (const Node* n : rest_b) only_side(out, *n, false);
  return out;
}

}  // namespace wb
