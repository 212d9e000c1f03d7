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
//   ConvLSTM (keras/layers/convolutional_recurrent.py ConvLSTM2DCell.call): the LSTM equations with
//         x K and h R replaced by convolutions: x * K with the layer's strides, padding and
//         dilation plus the bias; h * R with stride 1, 'same' padding, no dilation.
// With return_state the final states are extra outputs (OpArgs::extra): h (and c), forward then
// backward for Bidirectional, as Keras returns them.
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

// Runs one direction over x (N, T, C). Returns (N, T, u) or (N, u); the final states in *hT, *cT.
Array run_cell(const Cell& c, const Array& x, const Array* h0, const Array* c0, Array* hT, Array* cT) {
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
  const Shape st = {x.shape[0], static_cast<int64_t>(u)};
  if (hT) *hT = Array{st, h};
  if (cT) *cT = Array{st, cs};
  return y;
}

// ---- ConvLSTM ----

struct ConvCell {
  std::string act, ract;
  size_t filters = 0, rank = 0;
  bool backwards = false, sequences = false, channels_first = false;
  const nlohmann::json* attrs = nullptr;
  Node in_conv, rec_conv;       // channels_last Conv nodes: input (4f filters, the layer's window) and recurrent
  Weights in_w, rec_w;          // their weights
};

ConvCell conv_cell_of(const OpArgs& a, const std::string& prefix, const Shape& x) {
  const auto& at = a.node.attrs;
  ConvCell c;
  c.rank = at.at("rank").get<size_t>();
  c.filters = at.at("units").get<size_t>();
  c.act = at.value("activation", "tanh");
  c.ract = at.value("recurrent_activation", "sigmoid");
  c.sequences = at.value("return_sequences", false);
  c.backwards = at.value("go_backwards", false);
  c.channels_first = at.value("data_format", "channels_last") == "channels_first";
  c.attrs = &at;
  if (x.size() != c.rank + 3)
    bad_input(fmt::format("input of shape {} is not (batch, time, rank-{} feature maps)", shape_str(x), c.rank));
  const int64_t ch = c.channels_first ? x[2] : x.back(), f4 = static_cast<int64_t>(4 * c.filters);
  Shape ks = at.at("kernel_size").get<Shape>();
  Shape kshape = ks, rshape = ks;
  kshape.insert(kshape.end(), {ch, f4});
  rshape.insert(rshape.end(), {static_cast<int64_t>(c.filters), f4});
  const bool bias = at.value("use_bias", true);
  c.in_conv.name = a.node.name + "/input_conv";
  c.in_conv.op = "Conv";
  c.in_conv.attrs = {{"rank", c.rank}, {"filters", f4}, {"kernel_size", ks}, {"strides", at.at("strides")},
                     {"dilation", at.at("dilation")}, {"groups", 1}, {"use_bias", bias},
                     {"padding", at.value("padding", "valid")}, {"data_format", "channels_last"}, {"activation", "linear"}};
  c.rec_conv = c.in_conv;
  c.rec_conv.name = a.node.name + "/recurrent_conv";
  c.rec_conv.attrs["strides"] = Shape(c.rank, 1);
  c.rec_conv.attrs["dilation"] = Shape(c.rank, 1);
  c.rec_conv.attrs["padding"] = "same";
  c.rec_conv.attrs["use_bias"] = false;
  c.in_w["kernel"] = a.need_weight(prefix + "kernel", kshape);
  if (bias) c.in_w["bias"] = a.need_weight(prefix + "bias", {f4});
  c.rec_w["kernel"] = a.need_weight(prefix + "recurrent_kernel", rshape);
  return c;
}

Array conv_apply(const Node& n, const Weights& w, const Array& x) {
  OpArgs args{n, {&x}, w, nullptr};
  return op_conv(args);
}

// x (N, T, ...) -> step t as (N, ...), channels_last.
Array time_step(const ConvCell& c, const Array& x, size_t t) {
  const size_t N = static_cast<size_t>(x.shape[0]), T = static_cast<size_t>(x.shape[1]);
  const size_t per = x.data.size() / (N * T);
  Shape s(x.shape.begin() + 2, x.shape.end());
  s.insert(s.begin(), x.shape[0]);
  Array xt{s, std::vector<float>(N * per)};
  for (size_t b = 0; b < N; ++b)
    std::copy_n(x.data.begin() + static_cast<std::ptrdiff_t>((b * T + t) * per), per, xt.data.begin() + static_cast<std::ptrdiff_t>(b * per));
  return c.channels_first ? channels_first_to_last(xt) : xt;
}

// A state given as input (layer data_format) -> channels_last, checked against the expected shape.
Array state_in(const ConvCell& c, const Array& s, const Shape& want_cl) {
  Array v = c.channels_first ? channels_first_to_last(s) : s;
  if (v.shape != want_cl) bad_input(fmt::format("initial state has shape {}, expected the output map shape", shape_str(s.shape)));
  return v;
}

Array run_conv_cell(const ConvCell& c, const Array& x, const Array* h0, const Array* c0, Array* hT, Array* cT) {
  const size_t N = static_cast<size_t>(x.shape[0]), T = static_cast<size_t>(x.shape[1]), F = c.filters;
  if (T == 0 || N == 0) bad_input("a ConvLSTM needs at least one sample and one time step");
  Array h, cs;
  std::vector<Array> steps;
  for (size_t s = 0; s < T; ++s) {
    const size_t t = c.backwards ? T - 1 - s : s;
    Array z = conv_apply(c.in_conv, c.in_w, time_step(c, x, t));  // (N, spatial..., 4F)
    if (s == 0) {
      Shape st = z.shape;
      st.back() = static_cast<int64_t>(F);
      h = Array{st, std::vector<float>(array_numel(st), 0.0f)};
      cs = h;
      if (h0) h = state_in(c, *h0, st);
      if (c0) cs = state_in(c, *c0, st);
    }
    const Array hr = conv_apply(c.rec_conv, c.rec_w, h);
    if (hr.shape != z.shape) bad_input("recurrent convolution output does not match the input convolution output");
    const size_t pos = z.data.size() / (4 * F);
    for (size_t k = 0; k < z.data.size(); ++k) z.data[k] += hr.data[k];
    for (size_t p = 0; p < pos; ++p) {
      float* zp = z.data.data() + p * 4 * F;
      act_inplace(c.ract, *c.attrs, zp, 2 * F);      // i, f
      act_inplace(c.act, *c.attrs, zp + 2 * F, F);   // c candidate
      act_inplace(c.ract, *c.attrs, zp + 3 * F, F);  // o
      float* cp = cs.data.data() + p * F;
      for (size_t j = 0; j < F; ++j) cp[j] = zp[F + j] * cp[j] + zp[j] * zp[2 * F + j];
      std::vector<float> ac(cp, cp + F);
      act_inplace(c.act, *c.attrs, ac.data(), F);
      for (size_t j = 0; j < F; ++j) h.data[p * F + j] = zp[3 * F + j] * ac[j];
    }
    if (c.sequences) steps.push_back(c.channels_first ? channels_last_to_first(h) : h);
  }
  if (hT) *hT = c.channels_first ? channels_last_to_first(h) : h;
  if (cT) *cT = c.channels_first ? channels_last_to_first(cs) : cs;
  if (!c.sequences) return c.channels_first ? channels_last_to_first(h) : h;
  Shape ys = steps[0].shape;
  ys.insert(ys.begin() + 1, static_cast<int64_t>(T));
  Array y{ys, std::vector<float>(array_numel(ys))};
  const size_t per = steps[0].data.size() / N;
  for (size_t s = 0; s < T; ++s)
    for (size_t b = 0; b < N; ++b)
      std::copy_n(steps[s].data.begin() + static_cast<std::ptrdiff_t>(b * per), per, y.data.begin() + static_cast<std::ptrdiff_t>((b * T + s) * per));
  return y;
}

// One direction of any cell: sequence in, output and final states out.
struct Direction {
  bool conv = false;
  Cell cell;
  ConvCell ccell;
};

Direction direction_of(const OpArgs& a, const std::string& prefix, const Array& x) {
  Direction d;
  d.conv = a.node.attrs.value("cell", "") == "convlstm";
  if (d.conv) d.ccell = conv_cell_of(a, prefix, x.shape);
  else d.cell = cell_of(a, prefix, static_cast<size_t>(x.shape[2]));
  return d;
}

Array run_direction(const Direction& d, const Array& x, const Array* h0, const Array* c0, Array* hT, Array* cT) {
  return d.conv ? run_conv_cell(d.ccell, x, h0, c0, hT, cT) : run_cell(d.cell, x, h0, c0, hT, cT);
}

const Array& sequence_input(const OpArgs& a) {
  if (a.in.empty()) bad_input("takes a sequence input");
  const Array& x = *a.in[0];
  if (a.node.attrs.value("cell", "") == "convlstm") return x;  // checked by conv_cell_of
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

// Initial states of one direction: inputs first, first + 1 (or none when the inputs stop before).
const Array* state_at(const OpArgs& a, size_t i, const Direction& d, const Array& x) {
  if (i >= a.in.size()) return nullptr;
  return d.conv ? a.in[i] : state_input(a, i, d.cell, x);
}

size_t states_per_direction(const OpArgs& a) {
  const std::string cell = a.node.attrs.value("cell", "");
  return cell == "lstm" || cell == "convlstm" ? 2 : 1;
}

void push_states(const OpArgs& a, size_t S, Array& h, Array& c) {
  if (!a.node.attrs.value("return_state", false)) return;
  if (!a.extra) unsupported("return_state outputs in this context");
  a.extra->push_back(std::move(h));
  if (S == 2) a.extra->push_back(std::move(c));
}

}  // namespace

Array op_rnn(const OpArgs& a) {
  const Array& x = sequence_input(a);
  const Direction d = direction_of(a, "", x);
  const size_t S = states_per_direction(a);
  if (a.in.size() != 1 && a.in.size() != 1 + S)
    bad_input(fmt::format("takes a sequence and {} initial state(s), got {} inputs", S, a.in.size()));
  Array h, c;
  Array y = run_direction(d, x, state_at(a, 1, d, x), S == 2 ? state_at(a, 2, d, x) : nullptr, &h, &c);
  push_states(a, S, h, c);
  return y;
}

Array op_bidirectional(const OpArgs& a) {
  const Array& x = sequence_input(a);
  const size_t S = states_per_direction(a);
  if (a.in.size() != 1 && a.in.size() != 1 + 2 * S)
    bad_input(fmt::format("takes a sequence and {} initial states (forward then backward), got {} inputs", 2 * S, a.in.size()));
  Direction f = direction_of(a, "forward_", x);
  Direction b = direction_of(a, "backward_", x);
  if (b.conv) b.ccell.backwards = !f.ccell.backwards;
  else b.cell.backwards = !f.cell.backwards;
  Array fh, fc, bh, bc;
  const Array yf = run_direction(f, x, state_at(a, 1, f, x), S == 2 ? state_at(a, 2, f, x) : nullptr, &fh, &fc);
  Array yb = run_direction(b, x, state_at(a, 1 + S, b, x), S == 2 ? state_at(a, 2 + S, b, x) : nullptr, &bh, &bc);
  if (a.node.attrs.value("return_sequences", false)) {  // the backward half back into forward time order
    const size_t N = static_cast<size_t>(x.shape[0]), T = static_cast<size_t>(x.shape[1]);
    const size_t u = N * T == 0 ? 0 : yb.data.size() / (N * T);  // values per time step
    Array r = yb;
    for (size_t n = 0; n < N; ++n)
      for (size_t t = 0; t < T; ++t)
        std::copy_n(yb.data.begin() + static_cast<std::ptrdiff_t>((n * T + T - 1 - t) * u), u, r.data.begin() + static_cast<std::ptrdiff_t>((n * T + t) * u));
    yb = std::move(r);
  }
  push_states(a, S, fh, fc);
  push_states(a, S, bh, bc);
  const size_t u = yf.shape.empty() ? 0 : static_cast<size_t>(yf.shape.back());  // concat on the last axis, as Keras
  if (yf.shape != yb.shape) bad_input("forward and backward outputs differ in shape");
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
