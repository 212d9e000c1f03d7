"""Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) end to end.

Expected values come from outside the code under test: the outputs shipped with the Keras 1
LSTM fixture, a numpy (float64) forward pass written here from the equations of
formats-keras.md 5.8, and the hand-derived values of failure-cases.md BR-07, BR-08 and BR-10.
"""
import json
import os
import unittest

import h5py
import numpy as np

import mxnet_numpy
import ndarray_ref
from test_convert import keras_weights
from wbtest import fixture, run, tmpdir

GATES = {"lstm": 4, "gru": 3, "simple": 1}
CLASS = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}


# ---- numpy reference (Keras 2 semantics) ----

def act(name, x, slope=0.2):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "hard_sigmoid":
        return np.clip(slope * x + 0.5, 0.0, 1.0)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "linear":
        return x
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    raise ValueError(name)


def ref_rnn(cell, x, k, r, b, a="tanh", ra="sigmoid", reset_after=False, backwards=False, seq=False, slope=0.2,
            h0=None, c0=None, states=False):
    """x (N, T, C); k (C, G u); r (u, G u); b (G u), (2, 3u) or None. Returns (N, T, u) or (N, u);
    with states=True (y, h, c): the final states too (c None unless LSTM). h0, c0: initial states."""
    x, k, r = (np.asarray(v, np.float64) for v in (x, k, r))
    u = r.shape[0]
    n, t = x.shape[:2]
    b_in = np.zeros(k.shape[1]) if b is None else np.asarray(b, np.float64)
    b_rec = np.zeros(k.shape[1])
    if reset_after and b is not None:
        b_in, b_rec = b_in[0], b_in[1]
    h = np.zeros((n, u)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((n, u)) if c0 is None else np.asarray(c0, np.float64)
    outs = []
    steps = range(t - 1, -1, -1) if backwards else range(t)
    for s in steps:
        xw = x[:, s] @ k + b_in
        if cell == "simple":
            h = act(a, xw + h @ r)
        elif cell == "lstm":
            z = xw + h @ r
            i, f = act(ra, z[:, :u], slope), act(ra, z[:, u:2 * u], slope)
            g, o = act(a, z[:, 2 * u:3 * u]), act(ra, z[:, 3 * u:], slope)
            c = f * c + i * g
            h = o * act(a, c)
        else:
            hr = h @ r + b_rec
            z = act(ra, xw[:, :u] + hr[:, :u], slope)
            rr = act(ra, xw[:, u:2 * u] + hr[:, u:2 * u], slope)
            if reset_after:
                hh = act(a, xw[:, 2 * u:] + rr * hr[:, 2 * u:])
            else:
                hh = act(a, xw[:, 2 * u:] + (rr * h) @ r[:, 2 * u:])
            h = z * h + (1 - z) * hh
        outs.append(h)
    y = np.stack(outs, 1) if seq else h
    return (y, h, c if cell == "lstm" else None) if states else y


def ref_bidi(cell, x, fw, bw, merge, seq, **kw):
    yf = ref_rnn(cell, x, *fw, seq=seq, **kw)
    yb = ref_rnn(cell, x, *bw, seq=seq, backwards=True, **kw)
    if seq:
        yb = yb[:, ::-1]
    if merge == "concat":
        return np.concatenate([yf, yb], -1)
    return {"sum": yf + yb, "mul": yf * yb, "ave": (yf + yb) / 2}[merge]


# ---- Keras 2 files written with h5py ----

def cell_config(cell, name, units, a="tanh", ra="sigmoid", reset_after=False, backwards=False, seq=False, bias=True):
    cfg = {"name": name, "trainable": True, "units": units, "activation": a, "use_bias": bias,
           "return_sequences": seq, "go_backwards": backwards, "stateful": False}
    if cell != "simple":
        cfg["recurrent_activation"] = ra
    if cell == "gru":
        cfg["reset_after"] = reset_after
    return cfg


def write_keras(path, t, c, cls, cfg, weights, keras_version="2.2.4", backend="tensorflow"):
    """Functional model input (t, c) -> one layer; weights: [(name, array)] in weight_names order."""
    name = cfg["name"]
    layers = [{"name": "input_1", "class_name": "InputLayer",
               "config": {"name": "input_1", "batch_input_shape": [None, t, c], "dtype": "float32"}, "inbound_nodes": []},
              {"name": name, "class_name": cls, "config": cfg, "inbound_nodes": [[["input_1", 0, 0, {}]]]}]
    mc = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["input_1", 0, 0]],
                                             "output_layers": [[name, 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(mc)
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = backend
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"input_1", name.encode()]
        g.attrs["keras_version"] = keras_version
        g.attrs["backend"] = backend
        g.create_group("input_1").attrs["weight_names"] = []
        lg = g.create_group(name)
        lg.attrs["weight_names"] = [n.encode() for n, _ in weights]
        for n, a in weights:
            lg.create_dataset(n, data=np.asarray(a, np.float32))


def random_cell(rng, cell, c, u, reset_after=False, bias=True):
    g = GATES[cell]
    k = rng.uniform(-0.8, 0.8, (c, g * u)).astype(np.float32)
    r = rng.uniform(-0.8, 0.8, (u, g * u)).astype(np.float32)
    b = None
    if bias:
        b = rng.uniform(-0.5, 0.5, (2, g * u) if reset_after else (g * u,)).astype(np.float32)
    return k, r, b


def named(prefix, k, r, b):
    w = [(prefix + "kernel:0", k), (prefix + "recurrent_kernel:0", r)]
    return w + ([(prefix + "bias:0", b)] if b is not None else [])


def run_model(d, files, x):
    np.save(os.path.join(d, "x.npy"), x.astype(np.float32))
    out = os.path.join(d, "y.npy")
    run("run", *files, "--input", os.path.join(d, "x.npy"), "-o", out, check=0)
    return np.load(out)


def mx_files(prefix):
    return [prefix + "-symbol.json", prefix + "-0000.params"]


N, T, C, U = 2, 5, 3, 4


write_params = ndarray_ref.save


class Generated(unittest.TestCase):
    """Generated models with in != units, T = 5: engine vs numpy, MXNet --verify, round trips."""

    def check(self, tag, cls, cfg, weights, expected, mxnet_form, x):
        """mxnet_form: "fused" (MXNet's RNN op, round-trips to Keras) or "unrolled" (exact per-step ops)."""
        d = tmpdir("rnn_" + tag)
        src = os.path.join(d, "m.h5")
        write_keras(src, T, C, cls, cfg, weights)
        y = run_model(d, [src], x)
        np.testing.assert_allclose(y, expected, atol=1e-5, err_msg=tag)
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        np.testing.assert_allclose(run_model(d, mx_files(d + "/mx"), x), expected, atol=1e-5, err_msg=tag)
        with open(d + "/mx-symbol.json") as f:
            ops = {n["op"] for n in json.load(f)["nodes"]}
        self.assertEqual("RNN" in ops, mxnet_form == "fused", tag)
        if mxnet_form == "unrolled":
            (got,), _ = mxnet_numpy.evaluate(d + "/mx", x)  # the symbol as MXNet runs it
            np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=tag)
            self.assertIn("slice_axis", ops)
            # plain ops are not a recurrent layer: MXNet -> Keras refuses them in one line
            p = run("convert", *mx_files(d + "/mx"), "--to", "keras", "-o", d + "/back.h5")
            self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
            self.assertIn("SliceAxis cannot be exported to Keras", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1)
            self.assertFalse(os.path.exists(d + "/back.h5"))
            return
        run("convert", *mx_files(d + "/mx"), "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
        a, b = keras_weights(src)[cfg["name"]], keras_weights(d + "/back.h5")[cfg["name"]]
        self.assertEqual(len(a), len(b), tag)
        for wa, wb_ in zip(a, b):  # Keras -> MXNet -> Keras is byte-exact
            self.assertEqual(wa.shape, wb_.shape, tag)
            self.assertEqual(wa.tobytes(), wb_.tobytes(), tag)

    def test_single_direction_cells(self):
        rng = np.random.default_rng(7)
        x = rng.uniform(-1, 1, (N, T, C)).astype(np.float32)
        cases = [("lstm", {}, "fused"), ("lstm", {"ra": "hard_sigmoid"}, "unrolled"), ("simple", {}, "fused"),
                 ("simple", {"a": "relu"}, "fused"), ("gru", {"reset_after": True}, "fused"),
                 ("gru", {"reset_after": False}, "unrolled"), ("gru", {"reset_after": True, "ra": "hard_sigmoid"}, "unrolled"),
                 ("gru", {"reset_after": False, "ra": "hard_sigmoid", "a": "relu"}, "unrolled"),
                 ("lstm", {"a": "relu", "ra": "tanh"}, "unrolled"), ("simple", {"a": "softsign"}, "unrolled")]
        for cell, opts, mx in cases:
            for seq in (False, True):
                for back in (False, True):
                    tag = "%s_%s_seq%d_back%d" % (cell, "_".join("%s%s" % kv for kv in opts.items()), seq, back)
                    k, r, b = random_cell(rng, cell, C, U, opts.get("reset_after", False))
                    cfg = cell_config(cell, "rnn_1", U, seq=seq, backwards=back, **opts)
                    exp = ref_rnn(cell, x, k, r, b, seq=seq, backwards=back, **opts)
                    with self.subTest(tag):
                        self.check(tag, CLASS[cell], cfg, named("rnn_1/", k, r, b), exp, mx, x)

    def test_bidirectional_merge_modes(self):
        rng = np.random.default_rng(11)
        x = rng.uniform(-1, 1, (N, T, C)).astype(np.float32)
        for cell, opts in (("lstm", {}), ("gru", {"reset_after": True}), ("simple", {})):
            for merge in ("concat", "sum", "mul", "ave"):
                for seq in (True, False):
                    tag = "bidi_%s_%s_seq%d" % (cell, merge, seq)
                    fw = random_cell(rng, cell, C, U, opts.get("reset_after", False))
                    bw = random_cell(rng, cell, C, U, opts.get("reset_after", False))
                    inner = cell_config(cell, "inner_1", U, seq=seq, **opts)
                    cfg = {"name": "bidirectional_1", "merge_mode": merge, "layer": {"class_name": CLASS[cell], "config": inner}}
                    w = named("bidirectional_1/forward_inner_1/", *fw) + named("bidirectional_1/backward_inner_1/", *bw)
                    exp = ref_bidi(cell, x, fw, bw, merge, seq, **opts)
                    mx = "fused" if merge == "concat" and seq else "unrolled"
                    with self.subTest(tag):
                        self.check(tag, "Bidirectional", cfg, w, exp, mx, x)

    def test_bidirectional_go_backwards(self):
        """A Bidirectional whose forward layer has go_backwards=True (unrolled for MXNet): Keras
        returns the forward half in processing order and reverses the backward half's, so both
        halves are in reversed time order."""
        rng = np.random.default_rng(13)
        x = rng.uniform(-1, 1, (N, T, C)).astype(np.float32)
        for merge in ("concat", "sum"):
            tag = "bidi_lstm_back_%s" % merge
            fw, bw = random_cell(rng, "lstm", C, U), random_cell(rng, "lstm", C, U)
            inner = cell_config("lstm", "inner_1", U, seq=True, backwards=True)
            cfg = {"name": "bidirectional_1", "merge_mode": merge, "layer": {"class_name": "LSTM", "config": inner}}
            w = named("bidirectional_1/forward_inner_1/", *fw) + named("bidirectional_1/backward_inner_1/", *bw)
            yf = ref_rnn("lstm", x, *fw, seq=True, backwards=True)
            yb = ref_rnn("lstm", x, *bw, seq=True)[:, ::-1]
            exp = np.concatenate([yf, yb], -1) if merge == "concat" else yf + yb
            with self.subTest(tag):
                self.check(tag, "Bidirectional", cfg, w, exp, "unrolled", x)


class Gold(unittest.TestCase):
    def test_keras1_lstm_predictions(self):
        """Keras 1.2.2 LSTM (12 arrays i,c,f,o, inner_activation hard_sigmoid) vs its shipped predictions."""
        d = tmpdir("rnn_gold")
        src = fixture("keras1/simple_lstm_th_model.h5")
        with h5py.File(fixture("keras1/simple_lstm_th_inputs_and_outputs.h5"), "r") as f:
            x = np.array(f["inputs/lstm_input_1"], np.float32)
            want = np.array(f["predictions/dense_1"], np.float32)
        err = np.abs(run_model(d, [src], x) - want).max()
        self.assertLess(err, 1e-5)
        run("convert", src, "--to", "keras", "-o", d + "/k2.h5", "--verify", check=0)
        self.assertLess(np.abs(run_model(d, [d + "/k2.h5"], x) - want).max(), 1e-5)
        with h5py.File(d + "/k2.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])["config"]["layers"]
        self.assertEqual([l for l in cfg if l["class_name"] == "LSTM"][0]["config"]["recurrent_activation"], "hard_sigmoid")
        # hard_sigmoid gates: MXNet's fused RNN cannot compute them, the unrolled export does.
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertLess(np.abs(run_model(d, mx_files(d + "/mx"), x) - want).max(), 1e-5)
        (got,), sym = mxnet_numpy.evaluate(d + "/mx", x)
        self.assertLess(np.abs(got - want).max(), 1e-5)
        self.assertIn("hard_sigmoid", {n["op"] for n in sym["nodes"]})


def br07_weights():
    return [("lstm_1/kernel1", [[0.5, -0.5, 1.0, 0.25]]), ("lstm_1/recurrent_kernel1", [[0.1, 0.2, -0.3, 0.4]]),
            ("lstm_1/bias1", [0.0, 1.0, -0.5, 0.5])]


class FailureCases(unittest.TestCase):
    X = np.ones((1, 2, 1), np.float32)

    def br07_file(self, d, ra, version="2.2.4", backend="mxnet"):
        path = os.path.join(d, "lstm_%s_%s.h5" % (ra, version))
        cfg = cell_config("lstm", "lstm_1", 1, ra=ra)
        cfg["implementation"] = 1
        write_keras(path, 2, 1, "LSTM", cfg, br07_weights(), keras_version=version, backend=backend)
        return path

    def test_br07_lstm_biases_per_gate(self):
        d = tmpdir("rnn_br07")
        src = self.br07_file(d, "sigmoid")
        self.assertAlmostEqual(float(run_model(d, [src], self.X).ravel()[0]), 0.289117, places=6)
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        self.assertAlmostEqual(float(run_model(d, mx_files(d + "/mx"), self.X).ravel()[0]), 0.289117, places=6)
        # MXNet flat vector (8.10): W_i2h (4,1), W_h2h (4,1), b_i2h = bias, b_h2h = 0
        _names, arrays, _ = ndarray_ref.load(d + "/mx-0000.params")
        flat = [a for n, a in zip(_names, arrays) if n.endswith("lstm_1_parameters")][0]
        np.testing.assert_array_equal(flat, np.float32([0.5, -0.5, 1.0, 0.25, 0.1, 0.2, -0.3, 0.4,
                                                        0.0, 1.0, -0.5, 0.5, 0, 0, 0, 0]))

    def test_br10_hard_sigmoid(self):
        d = tmpdir("rnn_br10")
        k2 = self.br07_file(d, "hard_sigmoid", "2.2.4", "tensorflow")
        k3 = self.br07_file(d, "hard_sigmoid", "3.3.3", "tensorflow")
        self.assertAlmostEqual(float(run_model(d, [k2], self.X).ravel()[0]), 0.264469, places=6)
        self.assertAlmostEqual(float(run_model(d, [k3], self.X).ravel()[0]), 0.245056, places=6)
        for src, want, slope in ((k2, 0.264469, 0.2), (k3, 0.245056, 1 / 6)):  # exact: unrolled, the slope kept
            run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
            self.assertAlmostEqual(float(run_model(d, mx_files(d + "/mx"), self.X).ravel()[0]), want, places=6)
            (got,), sym = mxnet_numpy.evaluate(d + "/mx", self.X)
            self.assertAlmostEqual(float(got.ravel()[0]), want, places=6)
            alphas = {float(n["attrs"]["alpha"]) for n in sym["nodes"] if n["op"] == "hard_sigmoid"}
            self.assertEqual(len(alphas), 1)
            self.assertAlmostEqual(alphas.pop(), slope, places=6)
        # The documented approximation: sigmoid gates (0.289117), and verify says it differs.
        p = run("convert", k2, "--to", "mxnet", "-o", d + "/approx", "--accept-sigmoid-for-hard-sigmoid", "--verify")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("hard_sigmoid gates exported as sigmoid", p.stdout)
        self.assertAlmostEqual(float(run_model(d, mx_files(d + "/approx"), self.X).ravel()[0]), 0.289117, places=6)
        # Keras 3's slope 1/6 has no Keras 2 equivalent.
        self.assertEqual(run("convert", k3, "--to", "keras", "-o", d + "/k3.h5").returncode, 3)

    def test_br08_gru_mxnet_to_keras(self):
        d = tmpdir("rnn_br08")
        # The Gluon parameters of the failure case packed into the fused op's flat vector (8.10):
        # W_i2h, W_h2h, b_i2h, b_h2h, gates r, z, n.
        flat = np.float32([0.5, -1.0, 2.0, 0.3, 0.6, -0.7, 0.1, 0.2, 0.3, -0.2, 0.4, 0.5])
        sym = {"nodes": [
            {"op": "null", "name": "data", "attrs": {"__shape__": "(0, 2, 1)"}, "inputs": []},
            {"op": "transpose", "name": "tnc", "attrs": {"axes": "(1, 0, 2)"}, "inputs": [[0, 0, 0]]},
            {"op": "null", "name": "gru0_parameters", "inputs": []},
            {"op": "_zeros", "name": "gru0_state", "attrs": {"shape": "(1, 0, 1)"}, "inputs": []},
            {"op": "RNN", "name": "gru0", "attrs": {"mode": "gru", "state_size": "1", "num_layers": "1"},
             "inputs": [[1, 0, 0], [2, 0, 0], [3, 0, 0]]},
            {"op": "SequenceLast", "name": "last", "inputs": [[4, 0, 0]]}],
            "arg_nodes": [0, 2], "heads": [[5, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}}
        with open(d + "/g-symbol.json", "w") as f:
            json.dump(sym, f)
        write_params(d + "/g-0000.params", [("arg:gru0_parameters", flat)])
        x = np.float32([[[1.0], [-1.0]]])
        self.assertAlmostEqual(float(run_model(d, mx_files(d + "/g"), x).ravel()[0]), 0.403269, places=6)
        run("convert", *mx_files(d + "/g"), "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        w = list(keras_weights(d + "/k.h5").values())
        w = [ws for ws in w if ws][0]
        np.testing.assert_array_equal(w[0], np.float32([[-1.0, 0.5, 2.0]]))
        np.testing.assert_array_equal(w[1], np.float32([[0.6, 0.3, -0.7]]))
        np.testing.assert_array_equal(w[2], np.float32([[0.2, 0.1, 0.3], [0.4, -0.2, 0.5]]))
        with h5py.File(d + "/k.h5", "r") as f:
            layer = [l for l in json.loads(f.attrs["model_config"])["config"]["layers"] if l["class_name"] == "GRU"][0]
        self.assertEqual(layer["config"]["reset_after"], True)
        self.assertEqual(layer["config"]["recurrent_activation"], "sigmoid")
        self.assertAlmostEqual(float(run_model(d, [d + "/k.h5"], x).ravel()[0]), 0.403269, places=6)
        # reset_after=False with summed biases is a different model (0.412013): MXNet gets it
        # exactly as per-step ops, not as the fused GRU (0.403269).
        src = os.path.join(d, "ra_false.h5")
        cfg = cell_config("gru", "gru_1", 1, reset_after=False)
        write_keras(src, 2, 1, "GRU", cfg, [("gru_1/kernel:0", [[-1.0, 0.5, 2.0]]), ("gru_1/recurrent_kernel:0", [[0.6, 0.3, -0.7]]),
                                            ("gru_1/bias:0", [0.6, -0.1, 0.8])])
        self.assertAlmostEqual(float(run_model(d, [src], x).ravel()[0]), 0.412013, places=6)
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        (got,), sym = mxnet_numpy.evaluate(d + "/mx", x)
        self.assertAlmostEqual(float(got.ravel()[0]), 0.412013, places=6)
        self.assertNotIn("RNN", {n["op"] for n in sym["nodes"]})


class GateSwap(unittest.TestCase):
    def test_swapped_gate_blocks_fail_verify_and_name_the_layer(self):
        d = tmpdir("rnn_gateswap")
        rng = np.random.default_rng(3)
        k, r, b = random_cell(rng, "lstm", C, U)
        src = os.path.join(d, "m.h5")
        write_keras(src, T, C, "LSTM", cell_config("lstm", "lstm_1", U), named("lstm_1/", k, r, b))
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", check=0)
        names, arrays, _ = ndarray_ref.load(d + "/mx-0000.params")
        flat = arrays[names.index("arg:lstm_1_parameters")].copy()
        w = flat[:4 * U * C].reshape(4 * U, C)  # W_i2h row blocks i, f, c, o: swap f and c
        w[[*range(U, 2 * U), *range(2 * U, 3 * U)]] = w[[*range(2 * U, 3 * U), *range(U, 2 * U)]]
        flat[:4 * U * C] = w.ravel()
        write_params(d + "/bad-0000.params", [("arg:lstm_1_parameters", flat)])
        p = run("verify", src, "--against", d + "/mx-symbol.json", d + "/bad-0000.params")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("first divergence: layer 'lstm_1'", p.stdout)


class RealFixtures(unittest.TestCase):
    # fixture -> expected exit of convert --to mxnet --verify, and a word of the refusal
    # (hard_sigmoid gates and a linear GRU: exact per-step MXNet ops)
    CASES = {
        "keras2/simple_lstm_tf_model.h5": (0, None),
        "tfkeras/gru_two_inputs.h5": (0, None),
        "tfkeras/rnn_bidi_simplernn.h5": (0, None),
    }

    def test_inspect_convert_to_keras_and_mxnet(self):
        for rel, (code, word) in self.CASES.items():
            with self.subTest(rel):
                d = tmpdir("rnn_real_" + os.path.basename(rel))
                src = fixture(rel)
                run("inspect", src, check=0)
                p = run("convert", src, "--to", "keras", "-o", d + "/k.h5", "--verify")
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertIn("verify: PASS", p.stdout)
                p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
                self.assertEqual(p.returncode, code, p.stdout + p.stderr)
                if word:
                    self.assertIn(word, p.stderr)

    def test_weights_only_lstm_with_model_json(self):
        d = tmpdir("rnn_real_weights_only")
        src, arch = fixture("tfkeras/lstm_weights_only.h5"), fixture("tfkeras/lstm_weights_only_model.json")
        run("inspect", src, check=0)
        p = run("convert", src, "--arch", arch, "--to", "keras", "-o", d + "/k.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
