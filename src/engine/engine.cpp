// Graph runner: walks the nodes in their (topological) order and calls the op table.
#include <fmt/format.h>

#include <algorithm>

#include "engine/ops.h"
#include "weightbridge/error.h"

namespace wb {

size_t array_numel(const Shape& s) { return static_cast<size_t>(checked_numel(s)); }

namespace {

std::string where(const Node& n) { return "node '" + n.name + "' (" + n.op + ")"; }

Array load_weight(const Weight& w) {
  if (!dtype_info(w.tensor.dtype).is_float)
    fail(ErrorKind::Unsupported, fmt::format("weight '{}' has dtype {}; the engine takes float weights only", w.role,
                                             dtype_name(w.tensor.dtype)));
  Array a{w.tensor.shape, to_f32(w.tensor.load(), w.tensor.dtype)};
  if (a.data.size() != array_numel(a.shape))
    fail(ErrorKind::Malformed, fmt::format("weight '{}' holds {} values for shape {}", w.role, a.data.size(),
                                           shape_str(a.shape)));
  return a;
}

}  // namespace

Engine::Engine(const Model& m) : m_(m), producers_(m.nodes.size()), last_use_(m.nodes.size(), 0) {
  const auto& table = engine::op_table();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    try {
      if (!table.count(n.op)) fail(ErrorKind::Unsupported, "op '" + n.op + "' is not implemented by the engine");
      if (!index.emplace(n.name, i).second) fail(ErrorKind::Malformed, "duplicate node name");
      for (const auto& in : n.inputs) {
        const TensorRef r = parse_ref(in);
        auto it = index.find(r.node);
        if (it == index.end() || r.index >= output_count(m.nodes[it->second]))
          fail(ErrorKind::Malformed, "input '" + in + "' is not an output of an earlier node");
        last_use_[it->second] = i;
        producers_[i].push_back(it->second);
      }
      if (n.op == "Input") inputs_.push_back(n.name);
      for (const auto& w : n.weights) weights_[n.name][w.role] = load_weight(w);
    } catch (Error& e) {
      e.add_context(where(n));
      throw;
    }
  }
  for (const auto& o : m.outputs) {
    const TensorRef r = parse_ref(o);
    auto it = index.find(r.node);
    if (it == index.end() || r.index >= output_count(m.nodes[it->second]))
      fail(ErrorKind::Malformed, "model output '" + o + "' is not a node output");
    last_use_[it->second] = m.nodes.size();  // outputs live to the end
  }
}

std::map<std::string, Array> Engine::run(const std::map<std::string, Array>& inputs, bool keep_all) const {
  for (const auto& [name, arr] : inputs) {
    if (std::find(inputs_.begin(), inputs_.end(), name) == inputs_.end())
      fail(ErrorKind::Usage, "input '" + name + "' matches no Input node of the model");
    if (arr.shape.empty() || arr.data.size() != array_numel(arr.shape))
      fail(ErrorKind::Malformed, fmt::format("input '{}': {} values for shape {} (a batch axis is required)", name,
                                             arr.data.size(), shape_str(arr.shape)));
    if (arr.shape[0] != inputs.begin()->second.shape[0])
      fail(ErrorKind::Malformed, "inputs have different batch sizes");
  }
  const auto& table = engine::op_table();
  std::map<std::string, Array> values;
  static const engine::Weights kNoWeights;
  for (size_t i = 0; i < m_.nodes.size(); ++i) {
    const Node& n = m_.nodes[i];
    try {
      auto w = weights_.find(n.name);
      std::vector<Array> extra;
      engine::OpArgs args{n, {}, w == weights_.end() ? kNoWeights : w->second, &extra};
      if (n.op == "Input") {
        auto it = inputs.find(n.name);
        if (it == inputs.end()) fail(ErrorKind::Usage, "no value given for this input");
        args.in.push_back(&it->second);
      }
      for (const auto& in : n.inputs) args.in.push_back(&values.at(in));
      values[n.name] = table.at(n.op)(args);
      if (static_cast<int>(extra.size()) + 1 != output_count(n))
        fail(ErrorKind::Malformed, fmt::format("op gave {} outputs, the node has {}", extra.size() + 1, output_count(n)));
      for (size_t k = 0; k < extra.size(); ++k) values[make_ref(n.name, static_cast<int>(k + 1))] = std::move(extra[k]);
    } catch (Error& e) {
      e.add_context(where(n));
      throw;
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::Malformed, std::string("attribute: ") + e.what(), {}, where(n));
    }
    if (keep_all) continue;
    auto drop = [&](const Node& x) {
      for (int k = 0; k < output_count(x); ++k) values.erase(make_ref(x.name, k));
    };
    for (size_t p : producers_[i])  // free what no later node reads
      if (last_use_[p] == i) drop(m_.nodes[p]);
    if (last_use_[i] == 0) drop(n);
  }
  if (keep_all) return values;
  std::map<std::string, Array> out;
  for (const auto& o : m_.outputs) out[o] = values.at(o);
  return out;
}

std::map<std::string, Array> run_model(const Model& m, const std::map<std::string, Array>& inputs, bool keep_all) {
  return Engine(m).run(inputs, keep_all);
}

std::vector<std::string> engine_ops() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : engine::op_table()) out.push_back(name);
  return out;
}

}  // namespace wb
