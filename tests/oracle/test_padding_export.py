"""Keras padding that MXNet's symmetric `pad` cannot express, exported exactly: Conv1D 'causal',
Conv1D with asymmetric 'same' padding, and asymmetric 'same' max/avg pooling in 1, 2 and 3 D.

Each model is a Keras 2.2.4 .h5 written here with h5py. The references are numpy float64
implementations written from the Keras definitions (window of output j starts at j*stride -
before; 'same' pooling skips the padding, also in the average's count). Each model is converted
with `convert --to mxnet --verify`; the MXNet pair is then run twice: by `weightbridge run` (through
its own MXNet importer) and by a small numpy evaluator of the written symbol that follows MXNet
1.x's documented operator semantics (formats-mxnet.md: Convolution zero-pads `pad` on both sides,
Pooling skips padding for max and, with count_include_pad=False, for avg; slice; transpose), so the
symbol itself is checked, not only weightbridge's reading of it. The MXNet pair is converted back to
Keras (`--verify`) and must give the original layer padding and weights. The real causal fixture
(a DL4J test model, Keras-computed outputs shipped beside it) goes the same way.
"""
import itertools
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from mxnet_numpy import mx_conv
from test_convfam import write_model
from wbtest import fixture, run, tmpdir

RNG = np.random.default_rng(20240707)
ATOL = 1e-5
# MXNet 1.x operators this exporter may use for these models (formats-mxnet.md).
MX_OPS = {"null", "transpose", "Convolution", "Pooling", "slice", "Activation", "Pad"}


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- numpy float64 references from the Keras definitions (channels_last unless said) ----

def keras_geometry(L, k, s, d, padding):
    """(zeros before, output length) of one axis."""
    dk = d * (k - 1) + 1
    if padding == "valid":
        return 0, (L - dk) // s + 1
    out = -(-L // s)
    if padding == "causal":
        return dk - 1, out
    total = max((out - 1) * s + dk - L, 0)
    return total // 2, out


def conv1d_ref(x, k, b, s, d, padding, act=None):
    """x (N, L, C), k (K, C, F): y[n, j] = sum_t x[n, j*s - before + t*d] k[t] + b (x = 0 outside)."""
    n, L, c = x.shape
    K, _, F = k.shape
    before, out = keras_geometry(L, K, s, d, padding)
    y = np.zeros((n, out, F))
    for j in range(out):
        for t in range(K):
            i = j * s - before + t * d
            if 0 <= i < L:
                y[:, j, :] += x[:, i, :].astype(np.float64) @ k[t].astype(np.float64)
    y += b if b is not None else 0.0
    return np.tanh(y) if act == "tanh" else np.maximum(y, 0) if act == "relu" else y


def pool_ref(x, k, s, padding, kind, channels_first=False):
    """Max/avg over the window positions inside the input (Keras 'same' excludes the padding)."""
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    spatial = x.shape[1:-1]
    geo = [keras_geometry(L, kk, ss, 1, padding) for L, kk, ss in zip(spatial, k, s)]
    y = np.zeros((x.shape[0],) + tuple(o for _, o in geo) + (x.shape[-1],))
    for pos in itertools.product(*[range(o) for _, o in geo]):
        rng = []
        for j, (before, _), kk, ss, L in zip(pos, geo, k, s, spatial):
            lo = j * ss - before
            rng.append(slice(max(lo, 0), min(lo + kk, L)))
        win = x[(slice(None),) + tuple(rng) + (slice(None),)].astype(np.float64)
        win = win.reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + pos + (slice(None),)] = win.max(axis=1) if kind == "max" else win.mean(axis=1)
    return np.moveaxis(y, -1, 1) if channels_first else y


# ---- the written MXNet symbol evaluated with MXNet 1.x semantics ----

def tup(text):
    text = text.strip().strip("()[]")
    return [None if v.strip() == "None" else int(v) for v in text.split(",") if v.strip()]


def mx_pool(x, a):
    k = tup(a["kernel"])
    r = len(k)
    s = tup(a.get("stride", "(%s)" % ",".join(["1"] * r)))
    p = tup(a.get("pad", "(%s)" % ",".join(["0"] * r)))
    full = a.get("pooling_convention", "valid") == "full"
    out = []
    for i in range(r):
        span = x.shape[2 + i] + 2 * p[i] - k[i]
        out.append((-(-span // s[i]) if full else span // s[i]) + 1)
    # padding and the part of windows beyond it: NaN, skipped by max and by the avg count
    pads = [(p[i], max((out[i] - 1) * s[i] + k[i] - x.shape[2 + i] - p[i], p[i])) for i in range(r)]
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + pads, constant_values=np.nan)
    best = np.full((x.shape[0], x.shape[1]) + tuple(out), -np.inf)
    total = np.zeros_like(best)
    count = np.zeros_like(best)
    for tap in itertools.product(*[range(kk) for kk in k]):
        idx = tuple(slice(t, t + (out[i] - 1) * s[i] + 1, s[i]) for i, t in enumerate(tap))
        patch = xp[(slice(None), slice(None)) + idx]
        best = np.fmax(best, patch)
        total += np.nan_to_num(patch)
        count += ~np.isnan(patch)
    if a.get("pool_type", "max") == "max":
        return best
    include_pad = a.get("count_include_pad", "True") in ("True", "true", "1")
    assert not include_pad or all(pp == 0 for pp in p), "avg pooling counting the padding"
    return total / count if not include_pad else total / np.prod(k)


def mx_eval(prefix, x):
    sym = json.load(open(prefix + "-symbol.json"))
    params = {k.split(":", 1)[1]: v for k, v in ndarray_ref.load_dict(prefix + "-0000.params").items()}
    vals = {}
    for i, n in enumerate(sym["nodes"]):
        a, op = n.get("attrs", {}), n["op"]
        ins = [vals[e[0]] for e in n["inputs"]]
        if op == "null":
            vals[i] = params.get(n["name"], x)
        elif op == "transpose":
            vals[i] = np.transpose(ins[0], tup(a["axes"]))
        elif op == "Convolution":
            vals[i] = mx_conv(ins[0], ins[1], None if a.get("no_bias") == "True" else ins[2], a)
        elif op == "Pooling":
            vals[i] = mx_pool(ins[0], a)
        elif op == "slice":
            assert "step" not in a
            b, e = tup(a["begin"]), tup(a["end"])
            vals[i] = ins[0][tuple(slice(lo, hi) for lo, hi in zip(b, e))]
        elif op == "Activation":
            vals[i] = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}[a["act_type"]](ins[0])
        elif op == "Pad":
            assert a["mode"] == "constant" and float(a.get("constant_value", "0")) == 0.0
            pw = tup(a["pad_width"])
            vals[i] = np.pad(ins[0], list(zip(pw[0::2], pw[1::2])))
        else:
            raise AssertionError("op %s is not expected in this export" % op)
    return vals[sym["heads"][0][0]], sym


def model_config(path):
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["model_config"])


def weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        for ln in g.attrs["layer_names"]:
            ln = ln.decode() if isinstance(ln, bytes) else ln
            for wn in g[ln].attrs["weight_names"]:
                wn = wn.decode() if isinstance(wn, bytes) else wn
                out[(ln, wn.split("/")[-1])] = np.array(g[ln][wn])
    return out


class PaddingExport(unittest.TestCase):
    def check(self, name, input_shape, layers, ref, x=None, expect_slice=True):
        d = tmpdir("padexp_" + name)
        path = d + "/m.h5"
        write_model(path, input_shape, layers)
        x = rnd(2, *input_shape) if x is None else x
        want = ref(x)
        np.save(d + "/x.npy", x)
        run("run", path, "--input", d + "/x.npy", "-o", d + "/y_keras.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y_keras.npy"), want, rtol=0, atol=ATOL, err_msg=name + ": Keras file")
        run("convert", path, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        run("run", d + "/mx-symbol.json", d + "/mx-0000.params", "--input", d + "/x.npy", "-o", d + "/y_mx.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y_mx.npy"), want, rtol=0, atol=ATOL, err_msg=name + ": MXNet pair")
        got, sym = mx_eval(d + "/mx", x)
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=name + ": symbol under MXNet semantics")
        ops = [n["op"] for n in sym["nodes"]]
        self.assertLessEqual(set(ops), MX_OPS, name)
        if expect_slice:
            self.assertIn("slice", ops, name)
        for n in sym["nodes"]:
            if n["op"] == "Pooling":  # cuDNN / MKL-DNN need pad < kernel
                self.assertTrue(all(p < k for p, k in zip(tup(n["attrs"].get("pad", "()")), tup(n["attrs"]["kernel"]))), n)
        # back to Keras: the same layers (padding included) and the same weights, byte for byte
        run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5",
            "--verify", check=0)
        orig = [(l["class_name"], l["config"].get("padding")) for l in model_config(path)["config"]]
        back = model_config(d + "/back.h5")["config"]
        back = back["layers"] if isinstance(back, dict) else back
        self.assertEqual([(l["class_name"], l["config"].get("padding")) for l in back if l["class_name"] != "InputLayer"],
                         orig, name)
        a, b = weights(path), weights(d + "/back.h5")
        self.assertEqual(sorted(k[1] for k in a), sorted(k[1] for k in b))
        for (ln, role), v in a.items():
            self.assertEqual(v.tobytes(), b[(ln, role)].tobytes(), "%s %s/%s" % (name, ln, role))
        run("run", d + "/back.h5", "--input", d + "/x.npy", "-o", d + "/y_back.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y_back.npy"), want, rtol=0, atol=ATOL, err_msg=name + ": back to Keras")
        return d

    def conv1d(self, name, L, C, F, K, s, d, padding, act="linear", bias=True):
        k, b = rnd(K, C, F), rnd(F) if bias else None
        cfg = {"name": "conv", "filters": F, "kernel_size": [K], "strides": [s], "dilation_rate": [d], "padding": padding,
               "activation": act, "use_bias": bias, "data_format": "channels_last"}
        ws = [("kernel", k)] + ([("bias", b)] if bias else [])
        self.check(name, [L, C], [("Conv1D", cfg, ws)],
                   lambda x: conv1d_ref(x, k, b, s, d, padding, None if act == "linear" else act))

    # ---- Conv1D causal ----
    def test_causal_k3_dilation2_tanh(self):
        self.conv1d("causal_k3_d2", 11, 3, 5, 3, 1, 2, "causal", "tanh")

    def test_causal_even_kernel_stride2(self):
        self.conv1d("causal_k2_s2", 9, 4, 3, 2, 2, 1, "causal")

    def test_causal_k4_stride3_dilation2_no_bias(self):
        self.conv1d("causal_k4_s3_d2", 10, 2, 3, 4, 3, 2, "causal", bias=False)

    # ---- Conv1D asymmetric 'same' ----
    def test_same_even_kernel_stride1(self):
        self.conv1d("same_k2_s1", 7, 3, 4, 2, 1, 1, "same", "relu")

    def test_same_k4_stride2(self):
        self.conv1d("same_k4_s2", 9, 3, 2, 4, 2, 1, "same")

    def test_same_k2_stride3_pad_beyond_kernel(self):
        self.conv1d("same_k2_s3", 7, 2, 3, 2, 3, 1, "same")

    def test_same_odd_kernel_stride2_dilation2(self):
        self.conv1d("same_k3_s2_d2", 8, 3, 4, 3, 2, 2, "same")

    def test_same_symmetric_needs_no_slice(self):
        k, b = rnd(3, 3, 2), rnd(2)
        cfg = {"name": "conv", "filters": 2, "kernel_size": [3], "strides": [1], "dilation_rate": [1], "padding": "same",
               "activation": "linear", "use_bias": True, "data_format": "channels_last"}
        self.check("same_k3_s1", [6, 3], [("Conv1D", cfg, [("kernel", k), ("bias", b)])],
                   lambda x: conv1d_ref(x, k, b, 1, 1, "same"), expect_slice=False)

    # ---- pooling, negative inputs (zero padding would win a max) ----
    def pool(self, name, rank, kind, k, s, shape, channels_first=False):
        cls = ("MaxPooling%dD" if kind == "max" else "AveragePooling%dD") % rank
        cfg = {"name": "pool", "pool_size": list(k), "strides": list(s), "padding": "same"}
        if rank > 1:
            cfg["data_format"] = "channels_first" if channels_first else "channels_last"
        x = -np.abs(rnd(2, *shape)) - 0.25
        self.check(name, shape, [(cls, cfg, [])], lambda v: pool_ref(v, k, s, "same", kind, channels_first), x=x)

    def test_max_pool1d_even(self):
        self.pool("max1d_k2", 1, "max", (2,), (1,), [7, 3])

    def test_avg_pool1d_k4(self):
        self.pool("avg1d_k4", 1, "avg", (4,), (1,), [9, 2])

    def test_max_pool2d_non_square(self):
        self.pool("max2d_2x4", 2, "max", (2, 4), (1, 1), [5, 7, 3])

    def test_avg_pool2d_channels_first(self):
        self.pool("avg2d_cf", 2, "avg", (2, 3), (1, 2), [3, 6, 7], channels_first=True)

    def test_max_pool2d_channels_first_stride_mix(self):
        self.pool("max2d_cf", 2, "max", (4, 2), (1, 3), [2, 7, 8], channels_first=True)

    def test_max_pool3d(self):
        self.pool("max3d", 3, "max", (2, 1, 3), (1, 1, 2), [4, 3, 7, 2])

    def test_avg_pool3d(self):
        self.pool("avg3d", 3, "avg", (2, 2, 2), (1, 1, 1), [3, 4, 5, 2])

    def test_conv_then_pool(self):
        k, b = rnd(2, 3, 4), rnd(4)
        conv = {"name": "conv", "filters": 4, "kernel_size": [2], "strides": [1], "dilation_rate": [1], "padding": "causal",
                "activation": "linear", "use_bias": True, "data_format": "channels_last"}
        pool = {"name": "pool", "pool_size": [2], "strides": [1], "padding": "same"}
        self.check("causal_then_max", [8, 3], [("Conv1D", conv, [("kernel", k), ("bias", b)]), ("MaxPooling1D", pool, [])],
                   lambda x: pool_ref(conv1d_ref(x, k, b, 1, 1, "causal"), (2,), (1,), "same", "max"))

    # ---- the real fixture: Conv1D(4, k=3, dilation 2, causal, tanh), Keras-computed outputs ----
    def test_real_causal_fixture_through_mxnet(self):
        model = fixture("keras2/causal_conv1d_dilated_model.h5")
        io = fixture("keras2/causal_conv1d_dilated_inputs_and_outputs.h5")
        with h5py.File(io, "r") as f:
            x = np.array(f["inputs/conv0_input"])
            want = np.array(f["predictions/conv0"])
        d = tmpdir("padexp_real_causal")
        np.save(d + "/x.npy", x)
        run("convert", model, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        run("run", d + "/mx-symbol.json", d + "/mx-0000.params", "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
        got = np.load(d + "/y.npy")
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
        evaluated, sym = mx_eval(d + "/mx", x)
        np.testing.assert_allclose(evaluated, want, rtol=0, atol=ATOL)
        conv = [n for n in sym["nodes"] if n["op"] == "Convolution"][0]
        self.assertEqual((tup(conv["attrs"]["pad"]), tup(conv["attrs"]["dilate"])), ([4], [2]))
        run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
        back = model_config(d + "/back.h5")["config"]
        back = back["layers"] if isinstance(back, dict) else back
        self.assertEqual([l["config"]["padding"] for l in back if l["class_name"] == "Conv1D"], ["causal"])
        run("run", d + "/back.h5", "--input", d + "/x.npy", "-o", d + "/y_back.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y_back.npy"), want, rtol=0, atol=ATOL)


if __name__ == "__main__":
    unittest.main()
