// MXNet symbol JSON. Oracle: write_symbol(parse(x)) parses to the same graph.
#include "fuzz_common.h"
#include "weightbridge/mxnet_symbol.h"

namespace {

bool same_entries(const std::vector<wb::mxnet::SymEntry>& a, const std::vector<wb::mxnet::SymEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].node != b[i].node || a[i].index != b[i].index || a[i].version != b[i].version) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  wb::mxnet::Symbol sym;
  if (!wbfuzz::guarded("parse_symbol", [&] { sym = wb::mxnet::parse_symbol(text, "fuzz-symbol.json"); })) return 0;
  std::string out;
  if (!wbfuzz::guarded("write_symbol", [&] { out = wb::mxnet::write_symbol(sym); })) return 0;
  wb::mxnet::Symbol back;
  if (!wbfuzz::guarded("parse written", [&] { back = wb::mxnet::parse_symbol(out, "roundtrip-symbol.json"); }))
    wbfuzz::finding("write_symbol output does not parse");
  if (back.nodes.size() != sym.nodes.size()) wbfuzz::finding("round trip changed the node count");
  for (size_t i = 0; i < sym.nodes.size(); ++i) {
    const auto& a = sym.nodes[i];
    const auto& b = back.nodes[i];
    if (a.op != b.op || a.name != b.name || a.attrs != b.attrs || !same_entries(a.inputs, b.inputs))
      wbfuzz::finding("round trip changed node " + std::to_string(i));
  }
  if (back.arg_nodes != sym.arg_nodes) wbfuzz::finding("round trip changed arg_nodes");
  if (!same_entries(back.heads, sym.heads)) wbfuzz::finding("round trip changed heads");
  return 0;
}
