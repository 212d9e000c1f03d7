// --data-format: rewrites a canonical model between channels_first and channels_last
// (formats-keras.md 10), between import and export.
//
// Tensors are grouped into classes that must share one layout: a layer with a data_format joins its
// input and output, layout-keeping layers (activations, normalisations, merges) join all theirs.
// A class is an image class when a layer with a data_format reads it; its axis order flips as a
// whole. At the edges of a class: a Flatten (or a Reshape to one axis) changes the order of the
// features it emits, so the weights indexed by those features (Dense rows, per-feature
// normalisation and PReLU weights) are gathered into the new order; a Permute is rewritten; a
// layer that would need a different computation (Dense or RNN on an image tensor, a Reshape that
// reorders elements) is refused naming the layer.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "model/transforms.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {
namespace {

// Layers with a data_format whose input and output are image tensors of one layout.
const std::set<std::string> kFormatted = {"Conv",          "Pool",          "ZeroPadding", "ConvTranspose",
                                          "DepthwiseConv", "SeparableConv", "Cropping",    "UpSampling"};
// Layers whose inputs and output share a layout (the output is the input's elements, per element
// or per axis named by an attribute).
const std::set<std::string> kKeep = {"Activation", "LeakyReLU", "Dropout",  "BatchNorm", "PReLU",
                                     "LayerNorm",  "GroupNorm", "Scalar",   "Add",       "Multiply",
                                     "Subtract",   "Average",   "Maximum",  "Minimum",   "Concat"};
const std::set<std::string> kMerge = {"Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum"};

[[noreturn]] void refuse(const Node& n, const std::string& what) {
  fail(ErrorKind::Unsupported, what + " (--data-format)", {}, fmt::format("layer '{}' ({})", n.name, n.op));
}

struct Analysis {
  std::map<std::string, size_t> index;
  std::vector<size_t> parent;                 // union-find over node indices
  std::map<size_t, std::string> format;       // class root -> data format of its image layers
  std::map<size_t, std::string> format_from;  // class root -> a layer that declares it
  std::map<size_t, std::string> conflict;     // class root -> why its layers disagree

  size_t find(size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  size_t of(const std::string& name) { return find(index.at(name)); }
};

Analysis analyse(const Model& m) {
  Analysis a;
  a.parent.resize(m.nodes.size());
  std::iota(a.parent.begin(), a.parent.end(), size_t{0});
  for (size_t i = 0; i < m.nodes.size(); ++i) a.index[m.nodes[i].name] = i;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    if (!kKeep.count(n.op) && !kFormatted.count(n.op)) continue;
    for (const auto& in : n.inputs)
      if (a.index.count(in)) a.parent[a.find(a.index.at(in))] = a.find(i);
  }
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    size_t root;
    const bool moves = n.op == "Flatten" && n.attrs.value("channels_last_first", false);
    if (kFormatted.count(n.op)) root = a.find(i);
    else if ((n.op == "GlobalPool" || moves) && !n.inputs.empty() && a.index.count(n.inputs[0])) root = a.of(n.inputs[0]);
    else continue;
    // A Flatten that moves the channel axis last (Keras Flatten(data_format='channels_first')) reads
    // a channels_first tensor.
    const std::string df = moves ? "channels_first" : n.attrs.value("data_format", "channels_last");
    auto it = a.format.find(root);
    if (it != a.format.end() && it->second != df && !a.conflict.count(root))
      a.conflict[root] = fmt::format("layer '{}' is {} but layer '{}' on the same tensors is {}", n.name, df,
                                     a.format_from[root], it->second);
    if (it != a.format.end()) continue;
    a.format[root] = df;
    a.format_from[root] = n.name;
  }
  return a;
}

// Axis maps over Keras axes (1..r, the batch axis is 0) of a rank-r (without batch) image tensor.
struct Flip {
  int64_t r = 0;
  bool to_last = true;  // channels_first -> channels_last (else the reverse)
  int64_t fwd(int64_t k) const { return to_last ? (k == 1 ? r : k - 1) : (k == r ? 1 : k + 1); }
  int64_t back(int64_t t) const { return to_last ? (t == r ? 1 : t + 1) : (t == 1 ? r : t - 1); }
};

int64_t norm_axis(const Node& n, int64_t ax, int64_t r) {
  const int64_t a = ax < 0 ? ax + r + 1 : ax;
  if (a < 1 || a > r) refuse(n, fmt::format("axis {} is out of range for a rank-{} tensor", ax, r));
  return a;
}

// The new Keras axis for an old one; the channel axis of a channels_last tensor is written -1.
json mapped_axis(const Node& n, const json& ax, const Flip& f) {
  if (!ax.is_number_integer()) refuse(n, "axis " + ax.dump() + " is not an integer");
  const int64_t t = f.fwd(norm_axis(n, ax.get<int64_t>(), f.r));
  return f.to_last && t == f.r ? json(-1) : json(t);
}

// A re-ordering of a feature axis: new feature i is old feature src[i].
struct FeatPerm {
  std::vector<int64_t> src;
  std::string desc;  // for transforms and notes
  std::string origin;  // the Flatten / Reshape that introduced it
};

std::string axis_letters(int64_t r, bool cf, int64_t k) {  // Keras axis k (1..r) of a cf/cl tensor
  static const std::vector<std::vector<std::string>> kSpatial = {{"L"}, {"H", "W"}, {"D", "H", "W"}};
  const int64_t ch = cf ? 1 : r;
  if (k == ch) return "C";
  const int64_t s = cf ? k - 2 : k - 1;  // spatial index
  if (r - 1 <= 3) return kSpatial[static_cast<size_t>(r - 2)][static_cast<size_t>(s)];
  return "S" + std::to_string(s + 1);
}

// Feature order of flattening the source tensor (shape `s`, Keras axes 1..r) along `seq_src`
// (source axes, slowest first) -> flattening the rewritten tensor as it is held.
// `seq_tgt` lists the source axes in the order the new flattening enumerates them; `src_cf` names
// the axes (channels first or last in the source).
FeatPerm flatten_perm(const Node& n, const Shape& s, const std::vector<int64_t>& seq_src,
                      const std::vector<int64_t>& seq_tgt, bool src_cf) {
  const size_t r = s.size();
  const auto rr = static_cast<int64_t>(r);
  for (auto d : s)
    if (d <= 0) refuse(n, "the shape reaching this layer has unknown dimensions " + shape_str(s) + "; give --input-shape");
  // strides of the source flattening, per source axis
  std::vector<int64_t> stride(r + 1, 0);
  int64_t acc = 1;
  for (size_t k = r; k-- > 0;) {
    stride[static_cast<size_t>(seq_src[k])] = acc;
    acc *= s[static_cast<size_t>(seq_src[k] - 1)];
  }
  FeatPerm p;
  p.src.reserve(static_cast<size_t>(acc));
  std::vector<int64_t> idx(r, 0);  // over seq_tgt
  for (int64_t i = 0; i < acc; ++i) {
    int64_t old = 0;
    for (size_t k = 0; k < r; ++k) old += idx[k] * stride[static_cast<size_t>(seq_tgt[k])];
    p.src.push_back(old);
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < s[static_cast<size_t>(seq_tgt[k] - 1)]) break;
      idx[k] = 0;
    }
  }
  std::string from, to, sizes;
  for (auto k : seq_src) from += (from.empty() ? "" : ",") + axis_letters(rr, src_cf, k);
  for (auto k : seq_tgt) to += (to.empty() ? "" : ",") + axis_letters(rr, src_cf, k);
  for (int64_t k = 1; k <= rr; ++k)
    sizes += fmt::format("{}{}={}", sizes.empty() ? "" : ", ", axis_letters(rr, src_cf, k), s[static_cast<size_t>(k - 1)]);
  p.desc = fmt::format("rows reordered ({})->({}), {}, after '{}'", from, to, sizes, n.name);
  p.origin = n.name;
  return p;
}

bool is_identity(const std::vector<int64_t>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != static_cast<int64_t>(i)) return false;
  return true;
}

void gather_weight(Weight& w, const FeatPerm& p, Node& n) {
  if (w.tensor.shape.empty() || w.tensor.shape[0] != static_cast<int64_t>(p.src.size()))
    refuse(n, fmt::format("weight {} {} does not run over the {} features of '{}'", w.role, shape_str(w.tensor.shape),
                          p.src.size(), p.origin));
  w.tensor = rows_gathered(w.tensor, p.src);
  w.transform += std::string(w.transform.empty() ? "" : " + ") + p.desc;
}

struct Rewriter {
  Model& m;
  std::string target;
  std::map<std::string, Shape> shapes;
  Analysis a;
  std::map<size_t, Flip> flips;  // class root -> flip, for classes that change
  std::map<std::string, FeatPerm> feats;
  std::vector<std::string> notes;

  const Flip* flip_of(const std::string& name) {
    auto it = flips.find(a.of(name));
    return it == flips.end() ? nullptr : &it->second;
  }
  std::string format_of(const std::string& name) {
    auto it = a.format.find(a.of(name));
    return it == a.format.end() ? "" : it->second;
  }
  const FeatPerm* feat_of(const std::string& name) {
    auto it = feats.find(name);
    return it == feats.end() ? nullptr : &it->second;
  }
  const Shape& shape_of(const Node& n, const std::string& name) {
    auto it = shapes.find(name);
    if (it == shapes.end()) refuse(n, "the shape reaching this layer is unknown; give --input-shape");
    return it->second;
  }

  void run() {
    for (auto& [root, df] : a.format)
      if (df != target) flips[root] = Flip{0, df == "channels_first"};
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      auto it = flips.find(a.find(i));
      if (it == flips.end()) continue;
      auto s = shapes.find(m.nodes[i].name);
      if (s == shapes.end()) continue;
      const auto r = static_cast<int64_t>(s->second.size());
      if (it->second.r == 0) it->second.r = r;
      else if (it->second.r != r) refuse(m.nodes[i], "rank differs from the other layers of its layout group");
    }
    for (auto& [root, f] : flips)
      if (f.r < 2) refuse(*m.find(a.format_from[root]), "the rank of its input is unknown; give --input-shape");
    for (auto& n : m.nodes) rewrite(n);
    check_outputs();
  }

  void check_outputs() {
    for (const auto& o : m.outputs)
      if (const FeatPerm* p = feat_of(o))
        fail(ErrorKind::Unsupported,
             fmt::format("model output '{}' is the flattened feature vector of '{}', whose order changes with the data "
                         "format: the rewritten model would output it in another order (--data-format)", o, p->origin));
  }

  void rewrite(Node& n) {
    const Flip* own = flip_of(n.name);
    const Flip* in0 = n.inputs.empty() ? nullptr : flip_of(n.inputs[0]);
    const FeatPerm* fin = n.inputs.empty() ? nullptr : feat_of(n.inputs[0]);
    const std::string& op = n.op;
    if (op == "Input") {
      if (!own) return;
      const auto s = n.attrs.at("shape").get<Shape>();
      Shape t(s.size());
      for (int64_t k = 1; k <= own->r; ++k) t[static_cast<size_t>(own->fwd(k) - 1)] = s[static_cast<size_t>(k - 1)];
      n.attrs["shape"] = t;
      notes.push_back(fmt::format("input {}: shape {} -> {}", n.name, shape_str(s), shape_str(t)));
    } else if (kFormatted.count(op)) {
      if (!own) return;
      if ((op == "Cropping" || op == "UpSampling") && n.attrs.value("rank", 2) == 1 && target == "channels_first")
        refuse(n, "Keras Cropping1D and UpSampling1D have no data_format (always channels_last)");
      n.attrs["data_format"] = target;
    } else if (op == "GlobalPool") {
      if (in0) n.attrs["data_format"] = target;
    } else if (kKeep.count(op)) {
      if (own) rewrite_image_keep(n, *own);
      else rewrite_feature_keep(n);
    } else if (op == "Flatten" || (op == "Reshape" && in0 && !own)) {
      if (own) refuse(n, "its output feeds layers that change layout");
      if (in0) {
        if (op == "Reshape" && n.attrs.at("target_shape").size() != 1)
          refuse(n, fmt::format("reshapes a {} image tensor {} to {}: the rewritten tensor holds its elements in "
                                "another order, which this Reshape cannot reproduce",
                                in0->to_last ? "channels_first" : "channels_last", shape_str(shape_of(n, n.inputs[0])),
                                n.attrs.at("target_shape").dump()));
        std::vector<int64_t> seq;
        const bool moves = op == "Flatten" && n.attrs.value("channels_last_first", false);
        for (int64_t k = moves ? 2 : 1; k <= in0->r; ++k) seq.push_back(k);
        if (moves) seq.push_back(1);
        std::vector<int64_t> seq_tgt;  // source axes in the rewritten tensor's order
        for (int64_t t = 1; t <= in0->r; ++t) seq_tgt.push_back(in0->back(t));
        FeatPerm p = flatten_perm(n, shape_of(n, n.inputs[0]), seq, seq_tgt, in0->to_last);
        if (op == "Flatten") n.attrs["channels_last_first"] = false;
        if (!is_identity(p.src)) feats[n.name] = std::move(p);
      } else if (op == "Flatten" && n.attrs.value("channels_last_first", false) && format_of(n.inputs[0]) == target) {
        // A channels_first tensor flattened in (H, W, C) order: the target flattens it as it is
        // held, and the readers of the features follow (native layout, as MXNet's Flatten).
        const Shape& s = shape_of(n, n.inputs[0]);
        std::vector<int64_t> seq_src, seq_tgt;
        for (int64_t k = 2; k <= static_cast<int64_t>(s.size()); ++k) seq_src.push_back(k);
        seq_src.push_back(1);
        for (int64_t k = 1; k <= static_cast<int64_t>(s.size()); ++k) seq_tgt.push_back(k);
        FeatPerm p = flatten_perm(n, s, seq_src, seq_tgt, true);
        n.attrs["channels_last_first"] = false;
        notes.push_back(fmt::format("layer {}: flattens the {} tensor as it is held (its readers re-ordered)", n.name, target));
        if (!is_identity(p.src)) feats[n.name] = std::move(p);
      } else if (fin) {
        if (shape_of(n, n.inputs[0]).size() != 1) refuse(n, "reads re-ordered features as a multi-axis tensor");
        feats[n.name] = *fin;
      }
    } else if (op == "Reshape") {
      rewrite_reshape(n, own, in0, fin);
    } else if (op == "Permute") {
      if (fin) refuse(n, fmt::format("permutes the features flattened by '{}', whose order changes", fin->origin));
      if (!own && !in0) return;
      const auto d = n.attrs.at("dims").get<std::vector<int64_t>>();
      const int64_t r = static_cast<int64_t>(d.size());
      auto map_in = [&](int64_t k) { return in0 ? in0->fwd(k) : k; };
      auto map_out = [&](int64_t k) { return own ? own->fwd(k) : k; };
      std::vector<int64_t> nd(d.size());
      for (int64_t j = 1; j <= r; ++j) nd[static_cast<size_t>(map_out(j) - 1)] = map_in(d[static_cast<size_t>(j - 1)]);
      notes.push_back(fmt::format("layer {}: Permute dims {} -> {}", n.name, json(d).dump(), json(nd).dump()));
      n.attrs["dims"] = nd;
    } else {
      for (const auto& in : n.inputs)
        if (flip_of(in))
          refuse(n, "reads an image tensor, whose axis order changes (a Dense acts on the last axis: a spatial axis in "
                    "channels_first, the channels in channels_last); no weight permutation reproduces that in the other "
                    "layout");
      if (own) refuse(n, "its output is read as an image tensor, which would change layout");
      if (fin) {
        if (op != "Dense") refuse(n, fmt::format("reads the features flattened by '{}', whose order changes with the data "
                                                 "format; only Dense, normalisation and element-wise layers can follow it",
                                                 fin->origin));
        if (shape_of(n, n.inputs[0]).size() != 1) refuse(n, "reads re-ordered features as a multi-axis tensor");
        Weight* k = nullptr;
        for (auto& w : n.weights)
          if (w.role == "kernel") k = &w;
        if (!k) refuse(n, "has no kernel");
        gather_weight(*k, *fin, n);
        notes.push_back(fmt::format("layer {}: kernel {}", n.name, fin->desc));
      }
    }
  }

  // A layout-keeping layer on an image tensor that changes layout.
  void rewrite_image_keep(Node& n, const Flip& f) {
    const std::string& op = n.op;
    if (op == "BatchNorm" || op == "GroupNorm") {
      const json old = n.attrs.value("axis", json(-1));
      n.attrs["axis"] = mapped_axis(n, old, f);
      notes.push_back(fmt::format("layer {}: axis {} -> {}", n.name, old.dump(), n.attrs["axis"].dump()));
    } else if (op == "LayerNorm") {
      json axes = json::array();
      for (const auto& ax : n.attrs.at("axis")) axes.push_back(mapped_axis(n, ax, f));
      if (axes.size() > 1) refuse(n, "LayerNormalization over several axes of an image tensor (its gamma/beta layout) is not rewritten yet");
      n.attrs["axis"] = axes;
    } else if (op == "Concat") {
      n.attrs["axis"] = mapped_axis(n, n.attrs.value("axis", json(-1)), f);
    } else if (op == "Activation") {
      if (n.attrs.value("activation", "") == "softmax") n.attrs["axis"] = mapped_axis(n, n.attrs.value("axis", json(-1)), f);
    } else if (op == "PReLU") {
      Weight* w = nullptr;
      for (auto& x : n.weights)
        if (x.role == "alpha") w = &x;
      if (!w || static_cast<int64_t>(w->tensor.shape.size()) != f.r)
        refuse(n, "alpha does not have the rank of its input");
      std::vector<int> perm;
      for (int64_t t = 1; t <= f.r; ++t) perm.push_back(static_cast<int>(f.back(t) - 1));
      w->tensor = permuted(w->tensor, perm);
      w->transform += std::string(w->transform.empty() ? "" : " + ") + "transpose" + perm_str(perm) + " (--data-format " + target + ")";
      json sa = json::array();
      for (const auto& ax : n.attrs.value("shared_axes", json::array())) sa.push_back(f.fwd(norm_axis(n, ax.get<int64_t>(), f.r)));
      std::sort(sa.begin(), sa.end());
      n.attrs["shared_axes"] = sa;
      notes.push_back(fmt::format("layer {}: alpha transpose{}, shared_axes {}", n.name, perm_str(perm), sa.dump()));
    }
    // element-wise layers and merges: nothing depends on the axis order
  }

  // A layout-keeping layer on a flat tensor: carries a feature re-ordering through.
  void rewrite_feature_keep(Node& n) {
    std::vector<const FeatPerm*> ins;
    bool any = false;
    for (const auto& i : n.inputs) {
      ins.push_back(feat_of(i));
      any = any || ins.back();
    }
    if (!any) return;
    const std::string& op = n.op;
    const FeatPerm* p = ins[0];
    if (kMerge.count(op)) {
      for (const auto* q : ins)
        if (!q || !p || q->src != p->src)
          refuse(n, "merges features in different orders (one input is re-ordered by --data-format, another is not)");
    } else if (op == "Concat") {
      FeatPerm c;
      int64_t offset = 0;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const Shape& s = shape_of(n, n.inputs[i]);
        if (s.size() != 1) refuse(n, "concatenates re-ordered features with multi-axis tensors");
        for (int64_t j = 0; j < s[0]; ++j) c.src.push_back(offset + (ins[i] ? ins[i]->src[static_cast<size_t>(j)] : j));
        if (ins[i]) {
          c.desc += (c.desc.empty() ? "" : "; ") + fmt::format("{} (concatenated at offset {})", ins[i]->desc, offset);
          c.origin += (c.origin.empty() ? "" : ", ") + ins[i]->origin;
        }
        offset += s[0];
      }
      feats[n.name] = std::move(c);
      return;
    } else if (op == "GroupNorm") {
      refuse(n, fmt::format("normalises groups of the features flattened by '{}', whose order changes", p->origin));
    } else if (op == "BatchNorm" || op == "PReLU" || op == "LayerNorm") {
      if (shape_of(n, n.inputs[0]).size() != 1) refuse(n, "reads re-ordered features as a multi-axis tensor");
      for (auto& w : n.weights) gather_weight(w, *p, n);
      notes.push_back(fmt::format("layer {}: per-feature weights {}", n.name, p->desc));
    }
    feats[n.name] = *p;
  }

  void rewrite_reshape(Node& n, const Flip* own, const Flip* in0, const FeatPerm* fin) {
    const auto target_shape = n.attrs.at("target_shape").get<Shape>();
    if (!own) {  // plain -> plain
      if (fin) {
        if (target_shape.size() != 1) refuse(n, fmt::format("reshapes the features flattened by '{}', whose order changes", fin->origin));
        feats[n.name] = *fin;
      }
      return;
    }
    if (fin) refuse(n, fmt::format("reshapes the features flattened by '{}', whose order changes", fin->origin));
    const Shape& out = shape_of(n, n.name);
    const int64_t r = own->r;
    if (in0) {  // image -> image: only a reshape that keeps the shape is order-free
      if (shape_of(n, n.inputs[0]) != out)
        refuse(n, "reshapes an image tensor into another image shape: the rewritten tensor holds its elements in another "
                  "order, which this Reshape cannot reproduce");
    } else {
      // flat values laid out as an image: the same values in the other layout need a reordering
      // unless the channel axis or the spatial part has length 1.
      const int64_t ch = out[static_cast<size_t>(own->to_last ? 0 : r - 1)];
      int64_t spatial = 1;
      for (int64_t k = 1; k <= r; ++k)
        if (k != (own->to_last ? 1 : r)) spatial *= out[static_cast<size_t>(k - 1)];
      if (ch != 1 && spatial != 1)
        refuse(n, fmt::format("lays out values as a {} image {} with {} channels: in {} the same values would need a "
                              "reordering that a Reshape cannot express (only 1-channel reshapes are rewritten)",
                              own->to_last ? "channels_first" : "channels_last", shape_str(out), ch, target));
    }
    Shape t(target_shape.size());
    for (int64_t k = 1; k <= r; ++k) t[static_cast<size_t>(own->fwd(k) - 1)] = target_shape[static_cast<size_t>(k - 1)];
    notes.push_back(fmt::format("layer {}: Reshape target {} -> {}", n.name, shape_str(target_shape), shape_str(t)));
    n.attrs["target_shape"] = t;
  }
};

// Keras applies a layer's softmax activation over the last axis whatever its data_format, so the
// channel softmax of a channels_last layer becomes an explicit Softmax(axis) layer after it, which
// the rewrite then maps like any other axis.
void split_softmax_activations(Model& m, Analysis& a, const std::string& target) {
  std::vector<std::string> names;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    auto it = a.format.find(a.find(i));
    if (kFormatted.count(n.op) && it != a.format.end() && it->second != target &&
        n.attrs.value("activation", "") == "softmax")
      names.push_back(n.name);
  }
  for (const auto& name : names) {
    std::string sm = name + "_softmax";
    while (m.find(sm)) sm += "_";
    auto pos = std::find_if(m.nodes.begin(), m.nodes.end(), [&](const Node& n) { return n.name == name; });
    pos->attrs["activation"] = "linear";
    for (auto& n : m.nodes)
      for (auto& in : n.inputs)
        if (in == name) in = sm;
    for (auto& o : m.outputs)
      if (o == name) o = sm;
    Node s;
    s.name = sm;
    s.op = "Activation";
    s.attrs = {{"activation", "softmax"}, {"axis", -1}};
    s.inputs = {name};
    m.nodes.insert(pos + 1, std::move(s));
    m.prov.notes.push_back(fmt::format("layer {}: softmax activation split into layer {} (Keras applies it over the last "
                                       "axis, which the data format changes)", name, sm));
  }
}

}  // namespace

std::map<std::string, std::string> data_formats(const Model& m) {
  Analysis a = analyse(m);
  std::map<std::string, std::string> out;
  for (const auto& n : m.nodes) {
    const size_t root = a.of(n.name);
    auto it = a.format.find(root);
    out[n.name] = it == a.format.end() || a.conflict.count(root) ? "" : it->second;
  }
  return out;
}

void rewrite_data_format(Model& m, const std::string& target) {
  if (target != "channels_first" && target != "channels_last")
    fail(ErrorKind::Usage, "--data-format takes channels_first or channels_last");
  {
    Analysis a = analyse(m);
    if (!a.conflict.empty()) fail(ErrorKind::Unsupported, a.conflict.begin()->second + " (--data-format needs one layout per tensor)");
    split_softmax_activations(m, a, target);
  }
  Rewriter rw{m, target, infer_shapes(m), analyse(m), {}, {}, {}};
  if (rw.a.format.empty()) {
    for (const auto& n : m.nodes)
      if (n.op == "Input" && n.attrs.at("shape").size() >= 2)
        fail(ErrorKind::Unsupported,
             fmt::format("no layer of the model declares a data format, so nothing tells which axis of input '{}' {} "
                         "holds the channels (--data-format)", n.name, n.attrs.at("shape").dump()));
    m.prov.notes.push_back("--data-format " + target + ": the model has no image layers; nothing to rewrite");
    return;
  }
  rw.run();
  std::set<std::string> from;
  for (const auto& [root, f] : rw.flips) from.insert(f.to_last ? "channels_first" : "channels_last");
  if (rw.flips.empty()) m.prov.notes.push_back("--data-format " + target + ": the model is already " + target);
  else m.prov.notes.push_back(fmt::format("data format rewritten {} -> {} (--data-format)", *from.begin(), target));
  for (auto& note : rw.notes) m.prov.notes.push_back(std::move(note));
  m.prov.data_format = target;
  validate_model(m);
}

}  // namespace wb
