"""Gluon recurrent parameter names (formats-mxnet.md 8.11) mapped onto the fused RNN op.

The .params files are written here with ndarray_ref.save under the names Gluon uses: fused layer
Parameters (lstm0_l0_i2h_weight, l0_..., r0_...), the `_unfused.` keys of 1.3-1.9
save_parameters (uni- and bidirectional), and LSTMCell/GRUCell keys (i2h_weight, ...). The
symbols are written by hand after 8.10/8.11: Gluon's export joins the per-layer Parameters
(each Reshape(-1,)) with _rnn_param_concat; weightbridge's own form has one flat variable.
Expected values: the Keras weights by numpy regrouping (MXNet gates i,f,g,o / r,z,n -> Keras
i,f,c,o / z,r,h, transposes, LSTM biases summed, GRU biases as two rows) and a float64 numpy
forward pass written from MXNet's equations (8.10), independent of the Keras layout.
"""
import json
import os
import unittest

import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import run, tmpdir

G = {"lstm": 4, "gru": 3}


def sig(x):
    return 1 / (1 + np.exp(-x))


def mx_direction(mode, x, p, backwards=False):
    """x (N, T, C) float64; p = (Wi, Wh, bi, bh) in MXNet layout. Returns (N, T, H) in time order."""
    wi, wh, bi, bh = (np.asarray(a, np.float64) for a in p)
    H = wh.shape[1]
    n, t = x.shape[:2]
    h, c = np.zeros((n, H)), np.zeros((n, H))
    out = np.zeros((n, t, H))
    for s in (range(t - 1, -1, -1) if backwards else range(t)):
        gi = x[:, s] @ wi.T + bi
        gh = h @ wh.T + bh
        if mode == "lstm":
            z = gi + gh
            i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            r = sig(gi[:, :H] + gh[:, :H])
            zz = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            nn = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - zz) * nn + zz * h
        out[:, s] = h
    return out


def mx_layer(mode, x, dirs):
    ys = [mx_direction(mode, x, p, backwards=(k == 1)) for k, p in enumerate(dirs)]
    return np.concatenate(ys, -1)


def keras_expected(mode, p):
    """The Keras (kernel, recurrent_kernel, bias) of one direction from MXNet (Wi, Wh, bi, bh)."""
    wi, wh, bi, bh = p
    H = wh.shape[1]
    if mode == "lstm":  # same gate order; one bias
        return [wi.T, wh.T, (bi + bh).astype(np.float32)]
    order = [1, 0, 2]  # Keras z, r, h <- MXNet r, z, n

    def blocks(a):
        return np.concatenate([a[g * H:(g + 1) * H] for g in order], 0)
    return [blocks(wi).T, blocks(wh).T, np.stack([blocks(bi), blocks(bh)])]


def random_layer(rng, mode, c, h, dirs):
    g = G[mode]
    return [tuple(rng.uniform(-0.7, 0.7, s).astype(np.float32) for s in ((g * h, c), (g * h, h), (g * h,), (g * h,)))
            for _ in range(dirs)]


class Sym:
    """A hand-written MXNet symbol (formats-mxnet.md 7)."""

    def __init__(self, t, c):
        self.nodes = [{"op": "null", "name": "data", "attrs": {"__shape__": "(0, %d, %d)" % (t, c)}, "inputs": []}]
        self.args = [0]
        self.cur = self.add("transpose", "data_tnc", {"axes": "(1, 0, 2)"}, [self.last()])

    def last(self):
        return len(self.nodes) - 1

    def add(self, op, name, attrs, inputs):
        self.nodes.append({"op": op, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs]})
        return self.last()

    def var(self, name):
        self.nodes.append({"op": "null", "name": name, "inputs": []})
        self.args.append(self.last())
        return self.last()

    def rnn(self, name, mode, h, dirs, prefix, flat):
        if flat:
            params = self.var(prefix + "parameters")
        else:  # Gluon 1.3-1.9 export: Reshape(-1,) of each Parameter, _rnn_param_concat
            pieces = []
            for t in ("weight", "bias"):
                for d in "lr"[:dirs]:
                    for g in ("i2h", "h2h"):
                        v = self.var("%s%s0_%s_%s" % (prefix, d, g, t))
                        pieces.append(self.add("Reshape", "%s%s0_%s_%s_flat" % (prefix, d, g, t), {"shape": "(-1,)"}, [v]))
            params = self.add("_rnn_param_concat", prefix + "rnn_param_concat0", {"dim": "0", "num_args": str(len(pieces))}, pieces)
        states = [self.add("_zeros", "%sh0_%d" % (prefix, k), {"shape": "(%d, 0, %d)" % (dirs, h)}, [])
                  for k in range(2 if mode == "lstm" else 1)]
        self.cur = self.add("RNN", name, {"mode": mode, "state_size": str(h), "num_layers": "1", "p": "0",
                                          "bidirectional": str(dirs == 2), "state_outputs": "False"},
                            [self.cur, params] + states)

    def save(self, path):
        out = self.add("transpose", "out_ntc", {"axes": "(1, 0, 2)"}, [self.cur])
        with open(path, "w") as f:
            json.dump({"nodes": self.nodes, "arg_nodes": self.args, "heads": [[out, 0, 0]],
                       "attrs": {"mxnet_version": ["int", 10901]}}, f)


def unfused_keys(path, layer, dirs):
    keys = []
    for k, p in enumerate(layer):
        cell = "" if dirs == 1 else "%s_cell." % "lr"[k]
        for n, a in zip(("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"), p):
            keys.append(("%s_unfused.0.%s%s" % (path, cell, n), a))
    return keys


def layer_keys(prefix, layer):
    keys = []
    for k, p in enumerate(layer):
        for n, a in zip(("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"), p):
            keys.append(("%s%s0_%s" % (prefix, "lr"[k], n), a))
    return keys


def cell_keys(prefix, layer):
    return [(prefix + n, a) for n, a in zip(("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"), layer[0])]


T, C = 5, 3


class GluonNames(unittest.TestCase):
    def check(self, tag, layers, keys, flat=False):
        """layers: [(mode, H, dirs, prefix, params)]; keys: [(name, array)] for the .params file."""
        d = tmpdir("gluon_rnn_" + tag)
        sym = Sym(T, C)
        for i, (mode, h, dirs, prefix, _) in enumerate(layers):
            sym.rnn(prefix + "rnn%d" % i, mode, h, dirs, prefix, flat)
        sym.save(d + "/m-symbol.json")
        ndarray_ref.save(d + "/m-0000.params", keys)
        files = [d + "/m-symbol.json", d + "/m-0000.params"]
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, (2, T, C)).astype(np.float32)
        want = x.astype(np.float64)
        for mode, _, _, _, p in layers:
            want = mx_layer(mode, want, p)
        np.save(d + "/x.npy", x)
        run("run", *files, "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y.npy"), want, atol=1e-5, err_msg=tag)
        p = run("convert", *files, "--to", "keras", "-o", d + "/k.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        kw = [ws for ws in keras_weights(d + "/k.h5").values() if ws]
        self.assertEqual(len(kw), len(layers))
        for (mode, _, dirs, _, p), got in zip(layers, kw):
            exp = [a for direction in p for a in keras_expected(mode, direction)]
            self.assertEqual(len(got), len(exp), tag)
            for g, e in zip(got, exp):
                self.assertEqual(g.shape, e.shape, tag)
                np.testing.assert_array_equal(g, e, err_msg=tag)
        p = run("verify", *files, "--against", d + "/k.h5", "--input", d + "/x.npy")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_fused_layer_export_names(self):
        rng = np.random.default_rng(2)
        p = random_layer(rng, "lstm", C, 4, 1)
        self.check("export", [("lstm", 4, 1, "lstm0_", p)], [("arg:" + n, a) for n, a in layer_keys("lstm0_", p)])

    def test_prefix_stripped_layer_names(self):
        rng = np.random.default_rng(3)
        p = random_layer(rng, "gru", C, 4, 2)
        self.check("stripped", [("gru", 4, 2, "gru0_", p)], layer_keys("", p))

    def test_unfused_keys_unidirectional(self):
        rng = np.random.default_rng(4)
        p = random_layer(rng, "lstm", C, 4, 1)
        self.check("unfused_uni", [("lstm", 4, 1, "lstm0_", p)], unfused_keys("", p, 1))

    def test_unfused_keys_bidirectional_gru(self):
        rng = np.random.default_rng(5)
        p = random_layer(rng, "gru", C, 3, 2)
        self.check("unfused_bidi", [("gru", 3, 2, "gru0_", p)], unfused_keys("encoder.", p, 2))

    def test_unfused_keys_two_layers_by_order(self):
        """Sequential children 0 and 1: the groups go to the RNN ops in graph order (sizes differ)."""
        rng = np.random.default_rng(6)
        p0, p1 = random_layer(rng, "lstm", C, 4, 1), random_layer(rng, "lstm", 4, 5, 1)
        self.check("unfused_two", [("lstm", 4, 1, "lstm0_", p0), ("lstm", 5, 1, "lstm1_", p1)],
                   unfused_keys("0.", p0, 1) + unfused_keys("1.", p1, 1))

    def test_lstm_cell_keys_into_flat_parameters(self):
        rng = np.random.default_rng(7)
        p = random_layer(rng, "lstm", C, 4, 1)
        self.check("lstmcell", [("lstm", 4, 1, "lstm0_", p)], cell_keys("", p), flat=True)

    def test_gru_cell_prefixed_keys_into_flat_parameters(self):
        rng = np.random.default_rng(8)
        p = random_layer(rng, "gru", C, 4, 1)
        self.check("grucell", [("gru", 4, 1, "gru0_", p)], cell_keys("gru0_", p), flat=True)

    def test_wrong_shapes_refused(self):
        d = tmpdir("gluon_rnn_bad")
        sym = Sym(T, C)
        sym.rnn("lstm0_rnn0", "lstm", 4, 1, "lstm0_", True)
        sym.save(d + "/m-symbol.json")
        p = random_layer(np.random.default_rng(9), "lstm", C, 3, 1)  # state_size 3, symbol says 4
        ndarray_ref.save(d + "/m-0000.params", cell_keys("", p))
        r = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("i2h_weight", r.stderr)


if __name__ == "__main__":
    unittest.main()
