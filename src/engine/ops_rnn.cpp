// Recurrent ops: canonical "RNN" (SimpleRNN, LSTM, GRU) and "Bidirectional", with Keras 2
// semantics (formats-keras.md 5.8; keras/layers/recurrent.py):
//   LSTM  i,f,o = ra(x K + h R + b) per gate, g = act(...), c' = f c + i g, h' = o act(c')
//   GRU   z,r = ra(...); reset_after=False: hh = act(x K_h + b_h + (r h) R_h)
//                        reset_after=True:  hh = act(x K_h + b_ih + r (h R_h + b_rh))
//         h' = z h + (1 - z) hh
//   SimpleRNN h' = act(x K + b + h R)
// go_backwards reads the sequence from the end; with return_sequences the outputs stay in the
// order they were computed (reversed), as Keras returns them. Bidirectional re-reverses its
// backward half in time before merging, as Keras' Bidirectional does.
#include <fmt/format.h>

#include "engine/ops.h"

namespace wb::engine {

namespace {

struct Cell {
  std::string cell, act, ract;
  size_t units = 0, gates = 1;
  bool reset_after = false, backwards = false, sequences = false;
  const nlohmann::json* attrs = nullptr;  // for hard_sigmoid_slope
  const Array* kernel = nullptr;
  const Array* recurrent = nullptr;
  const Array* bias = nullptr;  // (G u) or (2, 3u); nullptr when use_bias is off
};

Cell cell_of(const OpArgs& a, const std::string& prefix, size_t in_width) {
  const auto& at = a.node.attrs;
  Cell c;
  c.cell = at.at("cell").get<std::string>();
  if (c.cell != "lstm" && c.cell != "gru" && c.cell != "simple") unsupported("cell '" + c.cell + "'");
  c.units = at.at("units").get<size_t>();
  c.gates = c.cell == "lstm" ? 4 : c.cell == "gru" ? 3 : 1;
  c.act = at.value("activation", "tanh");
  c.ract = at.value("recurrent_activation", "sigmoid");
  c.reset_after = c.cell == "gru" && at.value("reset_after", false);
  c.sequences = at.value("return_sequences", false);
  c.backwards = at.value("go_backwards", false);
  c.attrs = &at;
  const auto gu = static_cast<int64_t>(c.gates * c.units);
  c.kernel = &a.need_weight(prefix + "kernel", {static_cast<int64_t>(in_width), gu});
  c.recurrent = &a.need_weight(prefix + "recurrent_kernel", {static_cast<int64_t>(c.units), gu});
  if (at.value("use_bias", true))
    c.bias = &a.need_weight(prefix + "bias", c.reset_after ? Shape{2, gu} : Shape{gu});
  return c;
}

// Applies an activation to n values in place (through an (n,) Array so every activation works).
void act_inplace(const std::string& name, const nlohmann::json& attrs, float* p, size_t n) {
  if (name == "linear") return;
  Array t{{1, static_cast<int64_t>(n)}, std::vector<float>(p, p + n)};
  activate(name, attrs, t);
  std::copy(t.data.begin(), t.data.end(), p);
}

// One step for the whole batch. xw: x K + input bias, (N, G u); h, c: (N, u), updated.
void step(const Cell& c, size_t N, const float* xw, std::vector<float>& h, std::vector<float>& cs) {
  const size_t u = c.units, gu = c.gates * u;
  std::vector<float> hr(N * gu);
  sgemm(N, gu, u, h.data(), u, c.recurrent->data.data(), gu, 0.0f, hr.data(), gu);
  if (c.cell == "simple") {
    for (size_t k = 0; k < N * u; ++k) h[k] = xw[k] + hr[k];
    act_inplace(c.act, *c.attrs, h.data(), h.size());
    return;
  }
  if (c.cell == "lstm") {
    std::vector<float> z(N * gu);
    for (size_t k = 0; k < z.size(); ++k) z[k] = xw[k] + hr[k];
    for (size_t b = 0; b < N; ++b) {
      float* zb = z.data() + b * gu;
      act_inplace(c.ract, *c.attrs, zb, 2 * u);          // i, f
      act_inplace(c.act, *c.attrs, zb + 2 * u, u);       // c candidate
      act_inplace(c.ract, *c.attrs, zb + 3 * u, u);      // o
      for (size_t j = 0; j < u; ++j) cs[b * u + j] = zb[u + j] * cs[b * u + j] + zb[j] * zb[2 * u + j];
      std::vector<float> ac(cs.begin() + static_cast<std::ptrdiff_t>(b * u), cs.begin() + static_cast<std::ptrdiff_t>((b + 1) * u));
      act_inplace(c.act, *c.attrs, ac.data(), u);
      for (size_t j = 0; j < u; ++j) h[b * u + j] = zb[3 * u + j] * ac[j];
    }
    return;
  }
  // GRU
  const float* rb = c.reset_after && c.bias ? c.bias->data.data() + gu : nullptr;  // recurrent bias row
  for (size_t b = 0; b < N; ++b) {
    const float* xb = xw + b * gu;
    float* hb = h.data() + b * u;
    float* rr = hr.data() + b * gu;
    if (rb) for (size_t k = 0; k < gu; ++k) rr[k] += rb[k];
    std::vector<float> zr(2 * u), cand(u);
    for (size_t k = 0; k < 2 * u; ++k) zr[k] = xb[k] + rr[k];
    act_inplace(c.ract, *c.attrs, zr.data(), 2 * u);
    if (c.reset_after) {
      for (size_t j = 0; j < u; ++j) cand[j] = xb[2 * u + j] + zr[u + j] * rr[2 * u + j];
    } else {  // (r h) R_h
      std::vector<float> rh(u);
      for (size_t j = 0; j < u; ++j) rh[j] = zr[u + j] * hb[j];
      for (size_t j = 0; j < u; ++j) {
        double s = xb[2 * u + j];
        for (size_t k = 0; k < u; ++k) s += static_cast<double>(rh[k]) * c.recurrent->data[k * gu + 2 * u + j];
        cand[j] = static_cast<float>(s);
      }
    }
    act_inplace(c.act, *c.attrs, cand.data(), u);
    for (size_t j = 0; j < u; ++j) hb[j] = zr[j] * hb[j] + (1.0f - zr[j]) * cand[j];
  }
}

// Runs one direction over x (N, T, C). Returns (N, T, u) or (N, u).
Array run_cell(const Cell& c, const Array& x, const Array* h0, const Array* c0) {
  const size_t N = static_cast<size_t>(x.shape[0]), T = static_cast<size_t>(x.shape[1]), C = static_cast<size_t>(x.shape[2]);
  const size_t u = c.units, gu = c.gates * u;
  std::vector<float> h(N * u, 0.0f), cs(N * u, 0.0f);
  if (h0) h = h0->data;
  if (c0) cs = c0->data;
  std::vector<float> xw(N * gu);
  Array y{c.sequences ? Shape{x.shape[0], x.shape[1], static_cast<int64_t>(u)} : Shape{x.shape[0], static_cast<int64_t>(u)}, {}};
  y.data.assign(array_numel(y.shape), 0.0f);
  for (size_t s = 0; s < T; ++s) {
    const size_t t = c.backwards ? T - 1 - s : s;
    for (size_t b = 0; b < N; ++b)
      for (size_t k = 0; k < gu; ++k) xw[b * gu + k] = c.bias ? c.bias->data[k] : 0.0f;
    sgemm(N, gu, C, x.data.data() + t * C, T * C, c.kernel->data.data(), gu, 1.0f, xw.data(), gu);
    step(c, N, xw.data(), h, cs);
    if (c.sequences)
      for (size_t b = 0; b < N; ++b) std::copy(h.begin() + static_cast<std::ptrdiff_t>(b * u), h.begin() + static_cast<std::ptrdiff_t>((b + 1) * u), y.data.begin() + static_cast<std::ptrdiff_t>((b * T + s) * u));
  }
  if (!c.sequences) y.data = h;
  return y;
}

const Array& sequence_input(const OpArgs& a) {
  if (a.in.empty()) bad_input("takes a sequence input");
  const Array& x = *a.in[0];
  if (x.shape.size() != 3) bad_input(fmt::format("input of shape {} is not (batch, time, features)", shape_str(x.shape)));
  return x;
}

// Initial states given as extra inputs (Keras initial_state): h0 and, for LSTM, c0, each (N, u).
const Array* state_input(const OpArgs& a, size_t i, const Cell& c, const Array& x) {
  if (i >= a.in.size()) return nullptr;
  const Array& s = *a.in[i];
  if (s.shape != Shape{x.shape[0], static_cast<int64_t>(c.units)})
    bad_input(fmt::format("initial state {} has shape {}, expected (batch, {})", i, shape_str(s.shape), c.units));
  return &s;
}

}  // namespace

Array op_rnn(const OpArgs& a) {
  const Array& x = sequence_input(a);
  const Cell c = cell_of(a, "", static_cast<size_t>(x.shape[2]));
  const size_t n_states = c.cell == "lstm" ? 2 : 1;
  if (a.in.size() > 1 + n_states) bad_input(fmt::format("takes a sequence and at most {} initial states, got {} inputs", n_states, a.in.size()));
  return run_cell(c, x, state_input(a, 1, c, x), c.cell == "lstm" ? state_input(a, 2, c, x) : nullptr);
}

Array op_bidirectional(const OpArgs& a) {
  const Array& x = sequence_input(a);
  if (a.in.size() != 1) unsupported("Bidirectional with initial-state inputs");
  Cell f = cell_of(a, "forward_", static_cast<size_t>(x.shape[2]));
  Cell b = cell_of(a, "backward_", static_cast<size_t>(x.shape[2]));
  b.backwards = !f.backwards;
  const Array yf = run_cell(f, x, nullptr, nullptr);
  Array yb = run_cell(b, x, nullptr, nullptr);
  const size_t u = f.units;
  if (f.sequences) {  // the backward half back into forward time order
    const size_t N = static_cast<size_t>(x.shape[0]), T = static_cast<size_t>(x.shape[1]);
    Array r = yb;
    for (size_t n = 0; n < N; ++n)
      for (size_t t = 0; t < T; ++t)
        std::copy_n(yb.data.begin() + static_cast<std::ptrdiff_t>((n * T + T - 1 - t) * u), u, r.data.begin() + static_cast<std::ptrdiff_t>((n * T + t) * u));
    yb = std::move(r);
  }
  const std::string mode = a.node.attrs.value("merge_mode", "concat");
  if (mode == "concat") {
    Shape s = yf.shape;
    s.back() *= 2;
    Array y{s, std::vector<float>(yf.data.size() * 2)};
    const size_t rows = yf.data.size() / u;
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(yf.data.begin() + static_cast<std::ptrdiff_t>(r * u), u, y.data.begin() + static_cast<std::ptrdiff_t>(r * 2 * u));
      std::copy_n(yb.data.begin() + static_cast<std::ptrdiff_t>(r * u), u, y.data.begin() + static_cast<std::ptrdiff_t>(r * 2 * u + u));
    }
    return y;
  }
  Array y = yf;
  for (size_t k = 0; k < y.data.size(); ++k) {
    if (mode == "sum") y.data[k] += yb.data[k];
    else if (mode == "mul") y.data[k] *= yb.data[k];
    else if (mode == "ave") y.data[k] = (y.data[k] + yb.data[k]) / 2.0f;
    else unsupported("Bidirectional merge_mode '" + mode + "'");
  }
  return y;
}

}  // namespace wb::engine
