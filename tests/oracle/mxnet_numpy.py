"""A numpy evaluator of MXNet 1.x symbol files for the operators weightbridge's unrolled recurrent
export writes, following MXNet's documented operator semantics (formats-mxnet.md; the MXNet 1.x
operator reference): FullyConnected (y = x W^T + b; flatten=True first collapses all axes after the
batch, flatten=False applies to the last axis), slice_axis, Reshape with the special codes 0 (copy
the input dimension) and -1 (infer), zeros_like, elemwise_add/mul, ElementWiseSum, _rminus_scalar,
_div_scalar, hard_sigmoid (clip(alpha x + beta, 0, 1)), Activation, Concat, transpose, identity,
dot / batch_dot (with transpose_a/b), softmax,
Convolution (channels-first, symmetric zero `pad`, `stride`, `dilate`; out = floor((x + 2 pad - dk) / s) + 1)
and slice (begin/end per axis, None for the whole axis); and the fused RNN op of a model that mixes both forms (formats-mxnet.md 8.10: the flat vector holds
W_i2h, W_h2h per direction, then b_i2h, b_h2h per direction; gates LSTM i, f, g, o and GRU r, z, n
with the reset gate applied to W_hn h + b_hn; the backward direction runs t = T-1..0), with
_zeros, expand_dims, reverse, SequenceLast around it.
It shares no code with weightbridge: a test compares its result with weightbridge's own run.
"""
import itertools
import json

import numpy as np

import ndarray_ref


def tup(text):
    text = text.strip().strip("()[]")
    return [None if v.strip() == "None" else int(v) for v in text.split(",") if v.strip()]


def mx_conv(x, w, b, a):
    """MXNet Convolution (num_group 1): x (N, C, spatial...), w (F, C, k...), b (F,) or None."""
    k, r = tup(a["kernel"]), len(tup(a["kernel"]))
    s = tup(a.get("stride", "(%s)" % ",".join(["1"] * r)))
    d = tup(a.get("dilate", "(%s)" % ",".join(["1"] * r)))
    p = tup(a.get("pad", "(%s)" % ",".join(["0"] * r)))
    assert int(a.get("num_group", "1")) == 1
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pp, pp) for pp in p])
    out = [(xp.shape[2 + i] - (d[i] * (k[i] - 1) + 1)) // s[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0], w.shape[0]) + tuple(out))
    for tap in itertools.product(*[range(kk) for kk in k]):
        idx = tuple(slice(t * d[i], t * d[i] + (out[i] - 1) * s[i] + 1, s[i]) for i, t in enumerate(tap))
        patch = xp[(slice(None), slice(None)) + idx]
        y += np.einsum("nc...,fc->nf...", patch, w[(slice(None), slice(None)) + tap].astype(np.float64))
    if b is not None:
        y += b.reshape((1, -1) + (1,) * r)
    return y


def reshape(x, codes):
    """MXNet Reshape codes: 0 copies an input dimension, -1 infers one, -2 copies the rest, -3
    merges two consecutive input dimensions."""
    out, i = [], 0
    for c in codes:
        if c == 0:
            out.append(x.shape[i])
            i += 1
        elif c == -2:
            out.extend(x.shape[i:])
            i = x.ndim
        elif c == -3:
            out.append(x.shape[i] * x.shape[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return x.reshape(out)


ACT = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
       "softrelu": lambda v: np.log1p(np.exp(v)), "softsign": lambda v: v / (1 + np.abs(v))}


def fused_rnn(a, x, w, states):
    """MXNet's RNN op: x (T, N, I), flat parameter vector w, initial states (L D, N, H). Layer l > 0
    reads the previous layer's output (directions concatenated); all layers' weights come first in
    w (per layer, per direction: W_i2h, W_h2h), then all biases (per layer, per direction: b_i2h,
    b_h2h)."""
    mode, H, L = a["mode"], int(a["state_size"]), int(a.get("num_layers", "1"))
    assert a.get("projection_size", "None") == "None"
    D = 2 if a.get("bidirectional", "False") in ("True", "true", "1") else 1
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    T, N, _ = x.shape
    states = list(states) + [None] * (2 - len(states))  # state, state_cell; _zeros: zeros
    states = [np.zeros((L * D, N, H)) if st is None else st for st in states]
    pos, mats = 0, []
    for l in range(L):
        width = x.shape[2] if l == 0 else D * H
        for _ in range(D):
            mats.append([w[pos:pos + G * H * width].reshape(G * H, width),
                         w[pos + G * H * width:pos + G * H * (width + H)].reshape(G * H, H)])
            pos += G * H * (width + H)
    for k in range(L * D):
        mats[k] += [w[pos:pos + G * H], w[pos + G * H:pos + 2 * G * H]]
        pos += 2 * G * H
    assert pos == w.size, "flat parameter length"
    sig = ACT["sigmoid"]
    hy, cy = [], []
    for l in range(L):
        out = np.zeros((T, N, D * H))
        for d in range(D):
            wi, wh, bi, bh = mats[l * D + d]
            h = states[0][l * D + d]
            c = states[1][l * D + d] if mode == "lstm" else None
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                gi, gh = x[t] @ wi.T + bi, h @ wh.T + bh
                if mode == "lstm":
                    z = gi + gh
                    i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
                    c = sig(f) * c + sig(i) * np.tanh(g)
                    h = sig(o) * np.tanh(c)
                elif mode == "gru":
                    r = sig(gi[:, :H] + gh[:, :H])
                    zz = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                    h = (1 - zz) * n + zz * h
                else:
                    h = (np.tanh if mode == "rnn_tanh" else ACT["relu"])(gi + gh)
                out[t, :, d * H:(d + 1) * H] = h
            hy.append(h)
            cy.append(c)
        x = out
    return [x, np.stack(hy)] + ([np.stack(cy)] if mode == "lstm" else [])


def evaluate(prefix, inputs):
    """Runs PREFIX-symbol.json with PREFIX-0000.params. inputs: {variable name: array} (or one array
    for the single data variable). Returns the head values in order, and the symbol."""
    with open(prefix + "-symbol.json") as f:
        sym = json.load(f)
    params = {k.split(":", 1)[1]: v.astype(np.float64) for k, v in ndarray_ref.load_dict(prefix + "-0000.params").items()}
    vals = {}  # node index -> its outputs
    for i, n in enumerate(sym["nodes"]):
        a, op = n.get("attrs", {}), n["op"]
        x = [vals[e[0]][e[1]] for e in n["inputs"]]
        if op == "RNN":
            vals[i] = fused_rnn(a, x[0], x[1], x[2:])
            continue
        if op == "null":
            if n["name"] in params:
                vals[i] = params[n["name"]]
            else:
                vals[i] = (inputs[n["name"]] if isinstance(inputs, dict) else inputs).astype(np.float64)
        elif op == "FullyConnected":
            d = x[0].reshape(x[0].shape[0], -1) if a.get("flatten", "True") in ("True", "true", "1") else x[0]
            y = d @ x[1].T
            vals[i] = y if a.get("no_bias", "False") in ("True", "true", "1") else y + x[2]
        elif op == "slice_axis":
            ax, b, e = int(a["axis"]), int(a["begin"]), int(a["end"])
            vals[i] = np.take(x[0], range(b, e), axis=ax)
        elif op == "Reshape":
            vals[i] = reshape(x[0], tup(a["shape"]))
        elif op == "zeros_like":
            vals[i] = np.zeros_like(x[0])
        elif op in ("elemwise_add", "ElementWiseSum"):
            vals[i] = sum(x[1:], x[0])
        elif op == "elemwise_mul":
            vals[i] = x[0] * x[1]
        elif op == "broadcast_mul":  # numpy broadcasting from the right, as MXNet's
            vals[i] = x[0] * x[1]
        elif op == "_rminus_scalar":
            vals[i] = float(a["scalar"]) - x[0]
        elif op == "_div_scalar":
            vals[i] = x[0] / float(a["scalar"])
        elif op == "hard_sigmoid":
            vals[i] = np.clip(float(a.get("alpha", "0.2")) * x[0] + float(a.get("beta", "0.5")), 0, 1)
        elif op == "Activation":
            vals[i] = ACT[a["act_type"]](x[0])
        elif op == "Concat":
            vals[i] = np.concatenate(x, axis=int(a.get("dim", "1")))
        elif op == "transpose":
            vals[i] = np.transpose(x[0], tup(a["axes"]))
        elif op == "identity":
            vals[i] = x[0]
        elif op in ("dot", "batch_dot"):  # dot: 2-D matrix product; batch_dot: per leading index
            a_, b_ = x[0], x[1]
            if a.get("transpose_a", "False") in ("True", "true", "1"):
                a_ = np.swapaxes(a_, -1, -2)
            if a.get("transpose_b", "False") in ("True", "true", "1"):
                b_ = np.swapaxes(b_, -1, -2)
            assert op == "batch_dot" or a_.ndim == 2
            vals[i] = a_ @ b_
        elif op == "softmax":
            z = x[0] - x[0].max(axis=int(a.get("axis", "-1")), keepdims=True)
            e = np.exp(z)
            vals[i] = e / e.sum(axis=int(a.get("axis", "-1")), keepdims=True)
        elif op == "Convolution":
            vals[i] = mx_conv(x[0], x[1], None if a.get("no_bias", "False") in ("True", "true", "1") else x[2], a)
        elif op == "slice":
            assert all(v in (None, 1) for v in tup(a.get("step", "()")))
            b, e = tup(a["begin"]), tup(a["end"])
            vals[i] = x[0][tuple(slice(lo, hi) for lo, hi in zip(b, e))]
        elif op == "_zeros":  # a 0 dimension takes the batch size: the state of the RNN op it feeds
            vals[i] = None
        elif op == "expand_dims":
            vals[i] = np.expand_dims(x[0], int(a["axis"]))
        elif op == "reverse":
            vals[i] = np.flip(x[0], int(a["axis"]))
        elif op == "SequenceLast":
            vals[i] = x[0][-1]
        else:
            raise AssertionError("operator %s is not expected in a recurrent export" % op)
        vals[i] = [vals[i]]
    return [vals[h[0]][h[1]] for h in sym["heads"]], sym
