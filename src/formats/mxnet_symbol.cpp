// MXNet symbol JSON reader and writer (formats-mxnet.md sections 7 and 8).
#include "weightbridge/mxnet_symbol.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "core/io.h"
#include "weightbridge/error.h"

namespace wb::mxnet {
namespace {

using nlohmann::json;

constexpr size_t kMaxNodes = 10'000'000;
constexpr size_t kMaxStringBytes = size_t{1} << 20;  // one name or attribute value
constexpr int kMaxJsonDepth = 64;                    // the schema itself nests 5 levels
// Files older than 0.9.0 stored ops without their trailing inputs (aux states) (7.8).
constexpr int kFirstVersionWithAllInputs = 900;
// Hidden keys that old files stored without the __x__ wrapping (7.8 UpgradeJSON_FixParsing).
const char* const kOldHiddenKeys[] = {"ctx_group", "lr_mult", "wd_mult", "force_mirroring",
                                      "mirror_stage"};
const char* const kNodeKeys[] = {"op",    "name",       "inputs",  "attrs",
                                 "attr",  "param",      "backward_source_id",
                                 "control_deps", "subgraphs"};
const char* const kGraphKeys[] = {"nodes", "arg_nodes", "node_row_ptr", "heads", "attrs"};

[[noreturn]] void malformed(const std::string& file, const std::string& where, const std::string& what) {
  fail(ErrorKind::Malformed, what, file, where);
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Text from the input as it may appear in a one-line message: control bytes (and, when asked,
// non-ASCII bytes) escaped, long text cut.
std::string printable(std::string_view text, size_t max_len = 60, bool escape_non_ascii = false) {
  std::string out;
  for (char c : text.substr(0, max_len)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || (escape_non_ascii && u >= 0x80)) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return text.size() > max_len ? out + "..." : out;
}

std::string quoted_excerpt(const std::string& text) { return "\"" + printable(text) + "\""; }

std::string node_where(size_t i, const std::string& name) {
  return name.empty() ? fmt::format("node {}", i) : fmt::format("node {} \"{}\"", i, printable(name));
}

template <typename T>
bool parse_whole(std::string_view s, T& out) {
  if (s.empty() || s.front() == '+') return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

// ---------------------------------------------------------------- ops

std::optional<int> attr_int(const SymNode& n, const char* key) {
  auto it = n.attrs.find(key);
  int64_t v = 0;
  if (it == n.attrs.end() || !parse_whole(trim(it->second), v) || v < 1 || v > INT_MAX)
    return std::nullopt;
  return static_cast<int>(v);
}

// Throws Malformed for a value that is not a boolean.
bool attr_bool(const SymNode& n, const char* key, bool dflt) {
  auto it = n.attrs.find(key);
  return it == n.attrs.end() ? dflt : parse_bool(it->second);
}

std::optional<bool> try_attr_bool(const SymNode& n, const char* key, bool dflt) {
  try {
    return attr_bool(n, key, dflt);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string attr_str(const SymNode& n, const char* key, const char* dflt) {
  auto it = n.attrs.find(key);
  return it == n.attrs.end() ? dflt : it->second;
}

// Total outputs (hidden ones included) of ops whose count we know; nullopt otherwise.
std::optional<int> known_num_outputs(const SymNode& n) {
  static const std::set<std::string> kThree = {"BatchNorm",   "BatchNorm_v1", "_contrib_SyncBatchNorm",
                                               "LayerNorm",   "InstanceNorm", "GroupNorm"};
  static const std::set<std::string> kTwo = {"Dropout", "LRN"};
  static const std::set<std::string> kOne = {
      "null",          "FullyConnected", "Convolution",   "Deconvolution", "Activation",
      "Pooling",       "Flatten",        "Reshape",       "SoftmaxOutput", "softmax",
      "log_softmax",   "SoftmaxActivation", "Concat",     "Embedding",     "elemwise_add",
      "_Plus",         "broadcast_add",  "broadcast_mul", "dot",           "transpose",
      "LinearRegressionOutput", "LogisticRegressionOutput", "Cast", "clip", "expand_dims",
      "Pad",           "UpSampling",     "Crop",          "_copy",         "identity"};
  if (kThree.count(n.op)) return 3;
  if (kTwo.count(n.op)) return 2;
  if (kOne.count(n.op)) return 1;
  if (n.op == "SliceChannel" || n.op == "split" || n.op == "amp_multicast") return attr_int(n, "num_outputs");
  if (n.op == "LeakyReLU") return attr_str(n, "act_type", "leaky") == "rrelu" ? 2 : 1;
  if (n.op == "topk") return attr_str(n, "ret_typ", "indices") == "both" ? 2 : 1;
  if (n.op == "RNN") {
    auto state_outputs = try_attr_bool(n, "state_outputs", false);
    if (!state_outputs) return std::nullopt;
    if (!*state_outputs) return 1;
    return attr_str(n, "mode", "") == "lstm" ? 3 : 2;
  }
  return std::nullopt;
}

// Declared input names (FListInputNames) of the ops the 0.8 upgrade completes (7.8, 8.x).
std::vector<std::string> declared_inputs(const SymNode& n) {
  if (n.op == "FullyConnected" || n.op == "Convolution" || n.op == "Deconvolution") {
    bool no_bias = attr_bool(n, "no_bias", n.op == "Deconvolution");
    if (no_bias) return {"data", "weight"};
    return {"data", "weight", "bias"};
  }
  if (n.op == "BatchNorm") return {"data", "gamma", "beta", "moving_mean", "moving_var"};
  if (n.op == "Embedding") return {"data", "weight"};
  if (n.op == "LeakyReLU" && attr_str(n, "act_type", "leaky") == "prelu") return {"data", "gamma"};
  return {};
}

// Inputs an op mutates (FMutateInputs): composed graphs give these entries version 1 (7.3).
bool is_mutated_input(const SymNode& n, size_t pos) { return n.op == "BatchNorm" && pos >= 3; }

// ---------------------------------------------------------------- graph checks

struct GraphCheck {
  const Symbol& sym;
  const std::vector<std::optional<int>>& outputs;  // outputs[i]: node i's output count, if known
  const std::string& file;

  // `limit` is the first node the entry may not use: its consumer (inputs precede users).
  void entry(const SymEntry& e, size_t limit, const std::string& where, const std::string& what) const {
    const size_t n = sym.nodes.size();
    if (e.node < 0 || static_cast<size_t>(e.node) >= n)
      malformed(file, where,
                fmt::format("{} refers to node {}, out of range (the graph has {} nodes)", what, e.node, n));
    const auto target = static_cast<size_t>(e.node);
    if (target >= limit)
      malformed(file, where, fmt::format("{} refers to node {}, which does not come before it "
                                         "(cycle, or nodes not topologically sorted)", what, e.node));
    const auto& count = outputs[target];
    if (e.index < 0 || (count && e.index >= *count))
      malformed(file, where, fmt::format("{} uses output {} of {}, which has {} output(s)", what, e.index,
                                         node_where(target, sym.nodes[target].name), count.value_or(0)));
  }

  void nodes_and_heads() const {
    for (size_t i = 0; i < sym.nodes.size(); ++i) {
      const SymNode& node = sym.nodes[i];
      if (node.op == "null" && !node.inputs.empty())
        malformed(file, node_where(i, node.name), "a variable (op \"null\") has inputs");
      for (size_t k = 0; k < node.inputs.size(); ++k)
        entry(node.inputs[k], i, node_where(i, node.name), fmt::format("input {}", k));
    }
    for (size_t k = 0; k < sym.heads.size(); ++k)
      entry(sym.heads[k], sym.nodes.size(), "heads", fmt::format("head {}", k));
  }

  // arg_nodes lists every variable; MXNet CHECKs that each one is a variable (7.1).
  void arg_nodes() const {
    std::set<int> seen;
    for (int a : sym.arg_nodes) {
      if (a < 0 || static_cast<size_t>(a) >= sym.nodes.size())
        malformed(file, "arg_nodes",
                  fmt::format("entry {} is out of range (the graph has {} nodes)", a, sym.nodes.size()));
      const SymNode& node = sym.nodes[static_cast<size_t>(a)];
      if (node.op != "null")
        malformed(file, "arg_nodes", fmt::format("entry {} is {}, op \"{}\", not a variable", a,
                                                 node_where(static_cast<size_t>(a), node.name), printable(node.op)));
      if (!seen.insert(a).second) malformed(file, "arg_nodes", fmt::format("node {} is listed twice", a));
    }
  }
};

void check_graph(const Symbol& sym, const std::vector<std::optional<int>>& outputs, const std::string& file) {
  if (sym.nodes.empty()) malformed(file, "", "the graph has no nodes");
  GraphCheck check{sym, outputs, file};
  check.nodes_and_heads();
  check.arg_nodes();
}

void check_unique_variable_names(const Symbol& sym, const std::string& file) {
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < sym.nodes.size(); ++i) {
    const SymNode& node = sym.nodes[i];
    if (node.op != "null") continue;
    auto [it, fresh] = first.emplace(node.name, i);
    if (!fresh)
      malformed(file, node_where(i, node.name),
                fmt::format("variable name \"{}\" is also used by node {}", node.name, it->second));
  }
}

// ---------------------------------------------------------------- JSON input

// nlohmann's parse_error::byte counts the characters read, the failing one included.
std::pair<size_t, size_t> line_and_column(const std::string& text, size_t byte) {
  size_t pos = std::min(byte > 0 ? byte - 1 : 0, text.size());
  auto first = text.begin();
  size_t line = 1 + static_cast<size_t>(std::count(first, first + static_cast<std::ptrdiff_t>(pos), '\n'));
  size_t nl = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
  size_t line_start = nl == std::string::npos ? 0 : nl + 1;
  return {line, pos - line_start + 1};
}

[[noreturn]] void report_parse_error(const json::parse_error& e, const std::string& text, const std::string& file) {
  std::string reason = e.what();
  size_t at = reason.find("parse error");
  size_t colon = at == std::string::npos ? at : reason.find(": ", at);
  if (colon != std::string::npos) reason = reason.substr(colon + 2);
  auto [line, col] = line_and_column(text, e.byte);
  malformed(file, fmt::format("line {}, column {} (byte {})", line, col, e.byte),
            "not valid JSON: " + printable(reason, 200, true));
}

// Parses with a nesting cap and rejects duplicate object keys (nlohmann would keep the last).
json parse_json(const std::string& text, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  auto guard = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) malformed(file, "", fmt::format("JSON nests deeper than {} levels", kMaxJsonDepth));
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == json::parse_event_t::key && !open_objects.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second)
      malformed(file, "", fmt::format("duplicate JSON key \"{}\"", printable(parsed.get<std::string>())));
    return true;
  };
  try {
    return json::parse(text, guard);
  } catch (const json::parse_error& e) {
    report_parse_error(e, text, file);
  } catch (const json::exception& e) {  // out_of_range 406: a number literal beyond double
    malformed(file, "", "not valid JSON: " + printable(e.what(), 200, true));
  }
}

std::string short_dump(const json& v) {
  std::string s = v.dump();
  return s.size() <= 60 ? s : s.substr(0, 57) + "...";
}

class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}
  Symbol read(const json& root);

 private:
  [[noreturn]] void bad(const std::string& where, const std::string& what) const { malformed(file_, where, what); }
  const json& member(const json& obj, const char* key, const std::string& where) const;
  int index_value(const json& v, const std::string& where, const std::string& what) const;
  std::string string_value(const json& v, const std::string& where, const std::string& what) const;
  std::vector<int> int_array(const json& v, const std::string& where) const;
  SymEntry entry(const json& v, const std::string& where, const std::string& what) const;
  std::vector<SymEntry> entries(const json& v, const std::string& where, const char* key, const char* what) const;
  void reject_nested_graphs(const json& v, const std::string& where) const;
  void note_dialect(const json& v);
  std::string dialect(const json& root, int version) const;
  void check_keys(const json& obj, const char* const* begin, const char* const* end, const std::string& where) const;
  SymNode node(const json& v, size_t i);
  void merge_attrs(const json& m, const char* key, SymNode& node, const std::string& where) const;
  int graph_version(const json& root) const;
  std::vector<std::optional<int>> output_counts(const json& root, const Symbol& sym) const;

  const std::string& file_;
  bool seen_attrs_ = false, seen_attr_ = false, seen_legacy_ = false;
};

const json& Reader::member(const json& obj, const char* key, const std::string& where) const {
  auto it = obj.find(key);
  if (it == obj.end()) bad(where, fmt::format("missing required key \"{}\"", key));
  return *it;
}

int Reader::index_value(const json& v, const std::string& where, const std::string& what) const {
  if (!v.is_number_integer())
    bad(where, fmt::format("{} must be an integer, not {} {}", what, v.type_name(), short_dump(v)));
  if (v.is_number_unsigned() ? v.get<uint64_t>() > INT_MAX : v.get<int64_t>() < 0)
    bad(where, fmt::format("{} is out of range: {}", what, short_dump(v)));
  return v.get<int>();
}

std::string Reader::string_value(const json& v, const std::string& where, const std::string& what) const {
  if (!v.is_string()) bad(where, fmt::format("{} must be a string, not {} {}", what, v.type_name(), short_dump(v)));
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxStringBytes)
    bad(where, fmt::format("{} is {} bytes long, more than the {} allowed", what, s.size(), kMaxStringBytes));
  return s;
}

std::vector<int> Reader::int_array(const json& v, const std::string& where) const {
  if (!v.is_array()) bad(where, fmt::format("must be an array of integers, not {}", v.type_name()));
  std::vector<int> out;
  for (size_t k = 0; k < v.size(); ++k) out.push_back(index_value(v[k], where, fmt::format("element {}", k)));
  return out;
}

SymEntry Reader::entry(const json& v, const std::string& where, const std::string& what) const {
  // [node_id, output_index, version]; files from 0.8 and before omit version (7.3).
  if (!v.is_array() || v.size() < 2 || v.size() > 3)
    bad(where, fmt::format("{} must be [node, output] or [node, output, version], not {}", what, short_dump(v)));
  SymEntry e;
  e.node = index_value(v[0], where, what + " node");
  e.index = index_value(v[1], where, what + " output index");
  if (v.size() == 3) e.version = index_value(v[2], where, what + " version");
  return e;
}

std::vector<SymEntry> Reader::entries(const json& v, const std::string& where, const char* key,
                                      const char* what) const {
  if (!v.is_array()) bad(where, fmt::format("\"{}\" must be an array, not {}", key, v.type_name()));
  std::vector<SymEntry> out;
  for (size_t k = 0; k < v.size(); ++k) out.push_back(entry(v[k], where, fmt::format("{} {}", what, k)));
  return out;
}

void Reader::check_keys(const json& obj, const char* const* begin, const char* const* end,
                        const std::string& where) const {
  // MXNet's JSON reader aborts on unknown fields (dmlc JSONObjectReadHelper).
  for (const auto& item : obj.items())
    if (std::find_if(begin, end, [&](const char* k) { return item.key() == k; }) == end)
      bad(where, fmt::format("unknown key \"{}\"", printable(item.key())));
}

void Reader::merge_attrs(const json& m, const char* key, SymNode& node, const std::string& where) const {
  if (!m.is_object()) bad(where, fmt::format("\"{}\" must be an object, not {}", key, m.type_name()));
  for (const auto& item : m.items()) {
    std::string value = string_value(item.value(), where, fmt::format("attribute \"{}\"", printable(item.key())));
    auto [it, fresh] = node.attrs.emplace(item.key(), value);
    if (!fresh && it->second != value)
      bad(where, fmt::format("attribute \"{}\" has two values: {} and {}", printable(item.key()),
                             quoted_excerpt(it->second), quoted_excerpt(value)));
  }
}

SymNode Reader::node(const json& v, size_t i) {
  if (!v.is_object()) bad(node_where(i, ""), fmt::format("must be an object, not {}", v.type_name()));
  std::string where = node_where(i, v.contains("name") && v["name"].is_string() ? v["name"].get<std::string>() : "");
  check_keys(v, std::begin(kNodeKeys), std::end(kNodeKeys), where);
  SymNode n;
  n.op = string_value(member(v, "op", where), where, "\"op\"");
  n.name = string_value(member(v, "name", where), where, "\"name\"");
  if (n.op.empty()) bad(where, "\"op\" is empty");
  for (const char* key : {"param", "attr", "attrs"})
    if (v.contains(key)) merge_attrs(v[key], key, n, where);
  n.inputs = entries(member(v, "inputs", where), where, "inputs", "input");
  if (v.contains("backward_source_id") && !v["backward_source_id"].is_number_integer())
    bad(where, "\"backward_source_id\" must be an integer");
  reject_nested_graphs(v, where);
  note_dialect(v);
  return n;
}

// Symbol has no place for control dependencies or subgraphs (1.3+ control-flow and fused ops).
void Reader::reject_nested_graphs(const json& v, const std::string& where) const {
  for (const char* key : {"control_deps", "subgraphs"}) {
    if (!v.contains(key)) continue;
    if (!v[key].is_array()) bad(where, fmt::format("\"{}\" must be an array, not {}", key, v[key].type_name()));
    if (!v[key].empty())
      fail(ErrorKind::Unsupported, fmt::format("\"{}\" (control-flow or fused graphs) is not supported", key),
           file_, where);
  }
}

void Reader::note_dialect(const json& v) {
  seen_attrs_ |= v.contains("attrs");
  seen_attr_ |= v.contains("attr");
  seen_legacy_ |= v.contains("param") || v.contains("backward_source_id");
  for (const auto& x : v.at("inputs")) seen_legacy_ |= x.size() == 2;
}

// Node key "attrs" means 1.0+; "param", "backward_source_id", 2-element entries or no graph
// attrs mean 0.8; otherwise "attr" (0.9-0.12), or the version decides when no node has attributes.
std::string Reader::dialect(const json& root, int version) const {
  if (seen_attrs_) return "attrs";
  if (seen_legacy_ || !root.contains("attrs")) return "param";
  if (seen_attr_) return "attr";
  return version >= 10000 ? "attrs" : "attr";
}

int Reader::graph_version(const json& root) const {
  // "attrs": {"mxnet_version": ["int", V]}; each graph attribute is a [type, value] pair.
  if (!root.contains("attrs")) return 0;
  const json& attrs = root["attrs"];
  if (!attrs.is_object()) bad("attrs", fmt::format("must be an object, not {}", attrs.type_name()));
  for (const auto& item : attrs.items()) {
    const json& pair = item.value();
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string())
      bad("attrs", fmt::format("\"{}\" must be a [type, value] pair, not {}", printable(item.key()), short_dump(pair)));
  }
  if (!attrs.contains("mxnet_version")) return 0;
  const json& pair = attrs["mxnet_version"];
  if (pair[0] != "int") bad("attrs", fmt::format("mxnet_version must be [\"int\", V], not {}", short_dump(pair)));
  return index_value(pair[1], "attrs", "mxnet_version");
}

std::vector<std::optional<int>> Reader::output_counts(const json& root, const Symbol& sym) const {
  // node_row_ptr, when present, holds prefix sums of every node's total output count (7.1).
  std::vector<std::optional<int>> out;
  for (const auto& n : sym.nodes) out.push_back(known_num_outputs(n));
  if (!root.contains("node_row_ptr")) return out;
  std::vector<int> ptr = int_array(root["node_row_ptr"], "node_row_ptr");
  if (ptr.size() != sym.nodes.size() + 1 || ptr[0] != 0)
    bad("node_row_ptr", fmt::format("must have {} entries starting at 0, has {}", sym.nodes.size() + 1, ptr.size()));
  for (size_t i = 0; i < sym.nodes.size(); ++i) {
    if (ptr[i + 1] <= ptr[i])
      bad("node_row_ptr", fmt::format("gives {} no outputs (entries {} and {} are {} and {})",
                                      node_where(i, sym.nodes[i].name), i, i + 1, ptr[i], ptr[i + 1]));
    out[i] = ptr[i + 1] - ptr[i];
  }
  return out;
}

void rename_old_hidden_keys(Symbol& sym) {
  for (auto& node : sym.nodes)
    for (const char* key : kOldHiddenKeys) {
      auto it = node.attrs.find(key);
      if (it == node.attrs.end()) continue;
      node.attrs[fmt::format("__{}__", key)] = it->second;
      node.attrs.erase(it);
    }
}

// 0.8 files stored ops without their trailing inputs (BatchNorm: data, gamma, beta only).
// MXNet adds each as a new variable "<node>_<input>" carrying the op's attributes (7.8); the
// variables go just before the op so the node list stays topologically sorted.
void add_missing_inputs(Symbol& sym, const std::string& file) {
  std::vector<SymNode> out;
  std::vector<int> new_index(sym.nodes.size());
  std::vector<int> added;
  for (size_t i = 0; i < sym.nodes.size(); ++i) {
    SymNode node = std::move(sym.nodes[i]);
    for (auto& e : node.inputs) e.node = new_index[static_cast<size_t>(e.node)];
    std::vector<std::string> names;
    try {
      names = declared_inputs(node);
    } catch (Error& e) {
      e.in_file(file).add_context(node_where(i, node.name));
      throw;
    }
    for (size_t k = node.inputs.size(); k < names.size(); ++k) {
      added.push_back(static_cast<int>(out.size()));
      node.inputs.push_back({static_cast<int>(out.size()), 0, is_mutated_input(node, k) ? 1 : 0});
      out.push_back(SymNode{"null", node.name + "_" + names[k], node.attrs, {}});
    }
    new_index[i] = static_cast<int>(out.size());
    out.push_back(std::move(node));
  }
  for (auto& e : sym.heads) e.node = new_index[static_cast<size_t>(e.node)];
  for (auto& a : sym.arg_nodes) a = new_index[static_cast<size_t>(a)];
  sym.arg_nodes.insert(sym.arg_nodes.end(), added.begin(), added.end());
  std::sort(sym.arg_nodes.begin(), sym.arg_nodes.end());
  sym.nodes = std::move(out);
}

Symbol Reader::read(const json& root) {
  if (!root.is_object()) bad("", fmt::format("the top level must be a JSON object, not {}", root.type_name()));
  check_keys(root, std::begin(kGraphKeys), std::end(kGraphKeys), "top level");
  const json& nodes = member(root, "nodes", "top level");
  if (!nodes.is_array()) bad("nodes", fmt::format("must be an array, not {}", nodes.type_name()));
  if (nodes.size() > kMaxNodes)
    bad("nodes", fmt::format("{} nodes, more than the {} allowed", nodes.size(), kMaxNodes));
  Symbol sym;
  sym.arg_nodes = int_array(member(root, "arg_nodes", "top level"), "arg_nodes");
  sym.heads = entries(member(root, "heads", "top level"), "heads", "heads", "head");
  for (size_t i = 0; i < nodes.size(); ++i) sym.nodes.push_back(node(nodes[i], i));
  sym.mxnet_version = graph_version(root);
  check_graph(sym, output_counts(root, sym), file_);
  sym.dialect = dialect(root, sym.mxnet_version);
  rename_old_hidden_keys(sym);
  if (sym.mxnet_version < kFirstVersionWithAllInputs) add_missing_inputs(sym, file_);
  check_unique_variable_names(sym, file_);
  return sym;
}

// ---------------------------------------------------------------- JSON output

// dmlc::JSONWriter's layout (7.7): members of a multi-line scope each start on a new line
// indented 2 spaces per open scope, separated by ", "; a one-line scope separates by ", " only.
class DmlcWriter {
 public:
  void begin(char bracket, bool multi_line) {
    out_ += bracket;
    multi_line_.push_back(multi_line);
    count_.push_back(0);
  }
  void end(char bracket) {
    bool multi_line = multi_line_.back();
    size_t count = count_.back();
    multi_line_.pop_back();
    count_.pop_back();
    if (multi_line && count != 0) separator();
    out_ += bracket;
  }
  void item() {
    if (count_.back()++ > 0) out_ += ", ";
    separator();
  }
  void key(const std::string& k) {
    item();
    string(k);
    out_ += ": ";
  }
  void string(const std::string& s);
  void number(int64_t v) { out_ += std::to_string(v); }
  std::string take() { return std::move(out_); }

 private:
  void separator() {
    if (multi_line_.empty() || multi_line_.back()) {
      out_ += '\n';
      out_.append(multi_line_.size() * 2, ' ');
    }
  }
  std::string out_;
  std::vector<bool> multi_line_;
  std::vector<size_t> count_;
};

void DmlcWriter::string(const std::string& s) {
  // dmlc escapes exactly these five characters.
  out_ += '"';
  for (char c : s) {
    switch (c) {
      case '\r': out_ += "\\r"; break;
      case '\n': out_ += "\\n"; break;
      case '\\': out_ += "\\\\"; break;
      case '\t': out_ += "\\t"; break;
      case '"': out_ += "\\\""; break;
      default:
        // Other control bytes would be written raw, which no strict JSON reader accepts.
        if (static_cast<unsigned char>(c) < 0x20)
          fail(ErrorKind::Unsupported, fmt::format("string {} holds control character 0x{:02x}, which MXNet's "
                                                   "JSON writer cannot escape", quoted_excerpt(s), int(c)));
        out_ += c;
    }
  }
  out_ += '"';
}

// Arrays of plain values are one line iff they have at most 10 elements.
template <typename T, typename WriteItem>
void write_array(DmlcWriter& w, const std::vector<T>& items, WriteItem write_item) {
  w.begin('[', items.size() > 10);
  for (const auto& x : items) {
    w.item();
    write_item(x);
  }
  w.end(']');
}

void write_entry(DmlcWriter& w, const SymEntry& e) {
  w.begin('[', false);
  for (int v : {e.node, e.index, e.version}) {
    w.item();
    w.number(v);
  }
  w.end(']');
}

void write_entries(DmlcWriter& w, const std::vector<SymEntry>& entries) {
  write_array(w, entries, [&](const SymEntry& e) { write_entry(w, e); });
}

void write_ints(DmlcWriter& w, const std::vector<int64_t>& values) {
  write_array(w, values, [&](int64_t v) { w.number(v); });
}

void write_node(DmlcWriter& w, const SymNode& node, const std::string& attrs_key) {
  w.begin('{', true);
  w.key("op");
  w.string(node.op);
  w.key("name");
  w.string(node.name);
  if (!node.attrs.empty()) {
    w.key(attrs_key);
    w.begin('{', node.attrs.size() > 1);  // maps are one line iff they have at most 1 entry
    for (const auto& [k, v] : node.attrs) {
      w.key(k);
      w.string(v);
    }
    w.end('}');
  }
  w.key("inputs");
  write_entries(w, node.inputs);
  w.end('}');
}

// Each node's output count: the op's own, or more if entries use higher outputs (unknown ops).
std::vector<int64_t> node_row_ptr(const Symbol& sym) {
  std::vector<int64_t> outputs(sym.nodes.size());
  for (size_t i = 0; i < sym.nodes.size(); ++i) outputs[i] = op_num_outputs(sym.nodes[i]);
  auto widen = [&](const SymEntry& e) {
    auto& o = outputs[static_cast<size_t>(e.node)];
    o = std::max<int64_t>(o, int64_t{e.index} + 1);
  };
  for (const auto& node : sym.nodes) std::for_each(node.inputs.begin(), node.inputs.end(), widen);
  std::for_each(sym.heads.begin(), sym.heads.end(), widen);
  std::vector<int64_t> ptr{0};
  for (int64_t o : outputs) ptr.push_back(ptr.back() + o);
  return ptr;
}

}  // namespace

// ---------------------------------------------------------------- public API

Symbol parse_symbol(const std::string& json_text, const std::string& file) {
  json root = parse_json(json_text, file);
  return Reader(file).read(root);
}

Symbol read_symbol(const std::string& path) { return parse_symbol(read_text_file(path), path); }

std::string write_symbol(const Symbol& sym, int mxnet_version, const std::string& dialect) {
  if (dialect == "param")
    fail(ErrorKind::Unsupported, "writing the MXNet 0.8 \"param\" dialect is not supported (use \"attr\")");
  if (dialect != "attrs" && dialect != "attr")
    fail(ErrorKind::Usage, fmt::format("unknown symbol JSON dialect \"{}\" (expected \"attrs\" or \"attr\")", dialect));
  if (dialect == "attr")  // read by MXNet 0.12 (0.9-0.11 cannot read the V2 records beside it)
    for (const auto& n : sym.nodes) {
      const char* newer = n.op == "GroupNorm"                  ? "the GroupNorm op (MXNet 1.6)"
                          : n.attrs.count("count_include_pad") ? "Pooling's count_include_pad (MXNet 1.3)"
                                                               : nullptr;
      if (newer)
        fail(ErrorKind::Unsupported, std::string("--symbol-dialect attr writes for MXNet 0.12, which does not have ") + newer, {},
             "node '" + n.name + "'");
    }
  std::vector<std::optional<int>> outputs;
  for (const auto& n : sym.nodes) outputs.push_back(known_num_outputs(n));
  check_graph(sym, outputs, "symbol to write");
  check_unique_variable_names(sym, "symbol to write");

  DmlcWriter w;
  w.begin('{', true);
  w.key("nodes");
  w.begin('[', true);  // node objects are not plain values: always multi-line
  for (const auto& node : sym.nodes) {
    w.item();
    write_node(w, node, dialect);
  }
  w.end(']');
  w.key("arg_nodes");
  write_ints(w, std::vector<int64_t>(sym.arg_nodes.begin(), sym.arg_nodes.end()));
  w.key("node_row_ptr");
  write_ints(w, node_row_ptr(sym));
  w.key("heads");
  write_entries(w, sym.heads);
  w.key("attrs");
  w.begin('{', false);
  w.key("mxnet_version");
  w.begin('[', false);
  w.item();
  w.string("int");
  w.item();
  w.number(mxnet_version);
  w.end(']');
  w.end('}');
  w.end('}');
  return w.take();
}

int op_num_outputs(const SymNode& node) { return known_num_outputs(node).value_or(1); }

std::optional<Shape> parse_tuple(const std::string& text) {
  // MXNet's Tuple reader (7.6): "(a, b)", "[a, b]", "(a,)", "()", a bare integer, Python-2 "3L".
  auto bad = [&]() -> Shape { malformed("", "", fmt::format("invalid tuple {}", quoted_excerpt(text))); };
  auto dim = [&](std::string_view s) {
    s = trim(s);
    if (!s.empty() && (s.back() == 'L' || s.back() == 'l')) s.remove_suffix(1);
    int64_t v = 0;
    if (!parse_whole(s, v)) bad();
    return v;
  };
  std::string_view s = trim(text);
  if (s == "None") return std::nullopt;
  if (s.empty()) return bad();
  if (s.front() != '(' && s.front() != '[') return Shape{dim(s)};
  if (s.size() < 2 || s.back() != (s.front() == '(' ? ')' : ']')) return bad();
  std::string_view inner = trim(s.substr(1, s.size() - 2));
  Shape out;
  while (!inner.empty()) {
    size_t comma = inner.find(',');
    out.push_back(dim(inner.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    inner = trim(inner.substr(comma + 1));  // a trailing comma ends the tuple: "(3,)"
  }
  return out;
}

std::vector<std::optional<int64_t>> parse_optional_tuple(const std::string& text) {
  std::vector<std::optional<int64_t>> out;
  std::string cur;
  for (char ch : text + ",") {
    if (ch == '(' || ch == ')' || ch == '[' || ch == ']' || ch == ' ') continue;
    if (ch != ',') {
      cur += ch;
      continue;
    }
    if (!cur.empty()) out.push_back(cur == "None" ? std::nullopt : std::optional<int64_t>(parse_int(cur)));
    cur.clear();
  }
  return out;
}

bool parse_bool(const std::string& text) {
  std::string s(trim(text));
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  malformed("", "", fmt::format("invalid boolean {} (expected true, false, 1 or 0)", quoted_excerpt(text)));
}

double parse_float(const std::string& text) {
  double v = 0;
  if (!parse_whole(trim(text), v)) malformed("", "", fmt::format("invalid number {}", quoted_excerpt(text)));
  return v;
}

int64_t parse_int(const std::string& text) {
  int64_t v = 0;
  if (!parse_whole(trim(text), v)) malformed("", "", fmt::format("invalid integer {}", quoted_excerpt(text)));
  return v;
}

std::optional<DType> dtype_from_flag_text(const std::string& text) {
  try {
    return dtype_from_mxnet_flag(static_cast<int>(parse_int(text)));
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string attr(const SymNode& n, const std::string& key, const std::string& dflt) {
  auto it = n.attrs.find(key);
  return it == n.attrs.end() ? dflt : it->second;
}

Shape tuple_attr(const SymNode& n, const std::string& key, Shape dflt) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) return dflt;
  auto t = parse_tuple(it->second);
  return t ? *t : dflt;
}

}  // namespace wb::mxnet
