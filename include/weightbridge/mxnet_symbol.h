// MXNet symbol JSON (`-symbol.json`), every generation:
//   <= 0.8 : nodes carry "param" (+ "attr"), "backward_source_id", 2-element input entries,
//            no node_row_ptr, no mxnet_version;
//   0.9-0.12: node key "attr" (singular), graph attrs {"mxnet_version": ["int", V]};
//   1.x/2.0 : node key "attrs", node_row_ptr.
// Attribute values are strings; tuples may carry Python-2 long suffixes "(32L, 1L, 3L, 3L)".
// Hidden keys of old files (ctx_group, lr_mult, ...) are renamed to their __x__ form on read.
// See formats-mxnet.md section 7.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "weightbridge/tensor.h"

namespace wb::mxnet {

struct SymEntry {
  int node = 0;
  int index = 0;
  int version = 0;
};

struct SymNode {
  std::string op;    // "null" for variables
  std::string name;
  std::map<std::string, std::string> attrs;  // op parameters and hidden __x__ keys, merged
  std::vector<SymEntry> inputs;
};

struct Symbol {
  std::vector<SymNode> nodes;   // topologically sorted
  std::vector<int> arg_nodes;
  std::vector<SymEntry> heads;
  int mxnet_version = 0;        // 0 when absent (files from 0.8 and before)
  std::string dialect;          // "param" (<=0.8), "attr" (0.9-0.12) or "attrs" (1.0+)
};

// Parses and validates (indices in range, inputs before users, arg_nodes are variables, output
// indices within the node's outputs, no unknown keys, string attribute values, unique variable
// names). Throws Malformed naming the file and the node; nodes with non-empty "control_deps" or
// "subgraphs" are Unsupported. Files older than 0.9 (mxnet_version < 900 or absent) get MXNet's
// upgrade: missing trailing op inputs (BatchNorm moving_mean/moving_var, ...) become variables
// "<node>_<input>" inserted just before the op, and arg_nodes grows accordingly.
Symbol parse_symbol(const std::string& json_text, const std::string& file);
Symbol read_symbol(const std::string& path);

// Serialises in the MXNet 1.x schema ("attrs", node_row_ptr, 3-element entries) with MXNet's own
// whitespace conventions. `mxnet_version` is written as given (default 10300 = 1.3.0) .
// dialect "attr" writes the 0.9-0.12 form for old readers (node key "attr", otherwise identical);
// "param" is Unsupported, anything else a Usage error. node_row_ptr comes from op_num_outputs,
// widened when entries use a higher output of an op that function does not know.
std::string write_symbol(const Symbol& sym, int mxnet_version = 10300, const std::string& dialect = "attrs");

// A node attribute, or `dflt` when the file leaves it out (MXNet then uses the op's default).
std::string attr(const SymNode& n, const std::string& key, const std::string& dflt);
// A tuple attribute ("None" and absent both give `dflt`).
Shape tuple_attr(const SymNode& n, const std::string& key, Shape dflt);

// Number of outputs an op has, hidden ones included (BatchNorm 3, Dropout 2, SliceChannel
// num_outputs, RNN with state_outputs 2 or 3, ...; 1 for ops it does not know): for node_row_ptr.
int op_num_outputs(const SymNode& node);

// Attribute value parsing (formats-mxnet.md 7.6).
// "(3, 3)", "[3, 3]", "(3,)", "3", "()", "(32L, 1L)"; nullopt for "None". Throws Malformed.
std::optional<Shape> parse_tuple(const std::string& text);
// "(None, None, 1, 2)" (slice begin/end/step): entries, None as nullopt. Throws Malformed.
std::vector<std::optional<int64_t>> parse_optional_tuple(const std::string& text);
bool parse_bool(const std::string& text);  // true/false/1/0, any case
double parse_float(const std::string& text);
int64_t parse_int(const std::string& text);
// A __dtype__ attribute (decimal type_flag) as a dtype; nullopt for -1 or unknown codes.
std::optional<DType> dtype_from_flag_text(const std::string& text);

}  // namespace wb::mxnet
