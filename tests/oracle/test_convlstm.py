"""ConvLSTM1D/2D/3D (and Bidirectional(ConvLSTM2D)) end to end, Keras and MXNet.

Expected values come from a float64 numpy ConvLSTM written here from the Keras equations
(keras/layers/convolutional_recurrent.py ConvLSTM2DCell.call; formats-keras.md 5.4): gates i, f,
c, o as the LSTM, with x*K a convolution using the layer's strides, padding and dilation (plus
the bias) and h*R a stride-1 'same' convolution; weights read with h5py. A ConvLSTM1D (3D) is the
2-D reference with an inserted (a removed, kept 1 long) spatial axis. The MXNet export (per-step
Convolution ops) is checked three ways: weightbridge's --verify, weightbridge running the written
files, and mxnet_numpy evaluating the written symbol with MXNet 1.x operator semantics.
"""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
import mxnet_numpy
from test_convert import keras_weights
from test_rnn import act
from wbtest import fixture, inspect_json, run, tmpdir


def conv2d(x, k, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """x (N, H, W, C) channels_last, k (kh, kw, C, O) -> (N, H', W', O), Keras padding rules."""
    n, h, w, _ = x.shape
    kh, kw, _, o = k.shape
    pads = []
    for size, ks, s, d in ((h, kh, strides[0], dilation[0]), (w, kw, strides[1], dilation[1])):
        dk = d * (ks - 1) + 1
        if padding == "same":
            out = -(-size // s)
            total = max((out - 1) * s + dk - size, 0)
            pads.append((total // 2, total - total // 2, out))
        else:
            pads.append((0, 0, (size - dk) // s + 1))
    xp = np.pad(x, ((0, 0), pads[0][:2], pads[1][:2], (0, 0)))
    oh, ow = pads[0][2], pads[1][2]
    y = np.zeros((n, oh, ow, o))
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            patch = xp[:, r0:r0 + strides[0] * (oh - 1) + 1:strides[0], c0:c0 + strides[1] * (ow - 1) + 1:strides[1], :]
            y += patch @ k[i, j]
    return y


def ref_convlstm(x, k, r, b, cfg, backwards=None, states=False, h0=None, c0=None):
    """x (N, T, ...) in cfg's data_format. Returns the Keras output (sequences or last h), and with
    states=True also the final h and c (return_state). h0, c0: initial states (channels_last)."""
    cf = cfg.get("data_format") == "channels_first"
    x = np.asarray(x, np.float64)
    if cf:
        x = x.transpose(0, 1, 3, 4, 2)
    a, ra = cfg.get("activation", "tanh"), cfg.get("recurrent_activation", "hard_sigmoid")
    f = r.shape[2]
    back = cfg.get("go_backwards", False) if backwards is None else backwards
    t_steps = range(x.shape[1] - 1, -1, -1) if back else range(x.shape[1])
    h, c = h0, c0
    outs = []
    for t in t_steps:
        z = conv2d(x[:, t], k, tuple(cfg["strides"]), cfg["padding"], tuple(cfg.get("dilation_rate", (1, 1))))
        if b is not None:
            z = z + b
        if h is None:
            h = np.zeros(z.shape[:3] + (f,))
            c = np.zeros_like(h)
        z = z + conv2d(h, r, (1, 1), "same")
        i, fg = act(ra, z[..., :f]), act(ra, z[..., f:2 * f])
        g, o = act(a, z[..., 2 * f:3 * f]), act(ra, z[..., 3 * f:])
        c = fg * c + i * g
        h = o * act(a, c)
        outs.append(h)
    y = np.stack(outs, 1) if cfg.get("return_sequences") else h
    if cf:
        y = np.moveaxis(y, -1, 2 if cfg.get("return_sequences") else 1)
        h, c = np.moveaxis(h, -1, 1), np.moveaxis(c, -1, 1)
    return (y, h, c) if states else y


def ref_bidi(x, fw, bw, cfg):
    yf = ref_convlstm(x, *fw, cfg)
    yb = ref_convlstm(x, *bw, cfg, backwards=not cfg.get("go_backwards", False))
    if cfg.get("return_sequences"):
        yb = yb[:, ::-1]
    return np.concatenate([yf, yb], -1)  # Keras Bidirectional concatenates on the last axis


def mx_files(prefix):
    return [prefix + "-symbol.json", prefix + "-0000.params"]


def check_mxnet(test, d, src, x, want, tag, layer, bidi=False):
    """Exports src to MXNet with --verify; the written files, run by weightbridge and evaluated by
    numpy with MXNet semantics, give `want`."""
    p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
    test.assertIn("verify: PASS", p.stdout)
    np.testing.assert_allclose(run_model(d, mx_files(d + "/mx"), x), want, atol=2e-5, err_msg=tag)
    (got,), sym = mxnet_numpy.evaluate(d + "/mx", x)
    test.assertEqual(got.shape, want.shape, tag)
    np.testing.assert_allclose(got, want, atol=1e-9, err_msg=tag)
    ops = {n["op"] for n in sym["nodes"]}
    test.assertIn("Convolution", ops)
    test.assertNotIn("RNN", ops)
    names = {n["name"] for n in sym["nodes"] if n["op"] == "null"}
    dirs = ("_forward", "_backward") if bidi else ("",)
    for dr in dirs:
        for suffix in ("_i2h_weight", "_h2h_weight", "_i2h_bias"):
            test.assertIn(layer + dr + suffix, names, tag)
    return sym


def run_model(d, files, x):
    np.save(os.path.join(d, "x.npy"), np.asarray(x, np.float32))
    run("run", *files, "--input", os.path.join(d, "x.npy"), "-o", os.path.join(d, "y.npy"), check=0)
    return np.load(os.path.join(d, "y.npy"))


class RealFixture(unittest.TestCase):
    SRC = "tfkeras/convlstm2d_bidi.h5"

    def test_inspect(self):
        info = inspect_json(fixture(self.SRC))
        f = info[0] if isinstance(info, list) else info
        f = f.get("files", [f])[0] if "files" in f else f
        self.assertEqual(f["data_format"], "channels_first")
        kernels = [t for t in f["tensors"] if t["name"].endswith("/kernel:0")]
        self.assertEqual(len(kernels), 4)
        self.assertTrue(all(t["shape"] == [3, 3, 4, 16] for t in kernels))
        classes = {l["name"]: l["class_name"] for l in f["layers"]}
        self.assertEqual(classes["bidirectional"], "Bidirectional")

    def test_engine_matches_numpy_and_keras_round_trip(self):
        d = tmpdir("convlstm_real")
        src = fixture(self.SRC)
        ws = keras_weights(src)
        with h5py.File(src, "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        rng = np.random.default_rng(3)
        x = rng.uniform(-1, 1, (2, 3, 4, 10, 10)).astype(np.float32)
        y = x.astype(np.float64)
        for layer in layers[1:]:
            inner = layer["config"]["layer"]["config"]
            w = ws[layer["name"]]
            y = ref_bidi(y, w[:3], w[3:], inner)
        self.assertEqual(y.shape, (2, 3, 4, 10, 40))
        got = run_model(d, [src], x)
        self.assertEqual(got.shape, y.shape)
        np.testing.assert_allclose(got, y, atol=2e-5)
        p = run("convert", src, "--to", "keras", "-o", d + "/k.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        back = keras_weights(d + "/k.h5")
        for name, arrays in ws.items():  # byte-exact weights, same order and shapes
            self.assertEqual([(a.shape, a.tobytes()) for a in arrays], [(a.shape, a.tobytes()) for a in back[name]], name)
        with h5py.File(d + "/k.h5", "r") as f:
            out_layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        inner = out_layers[1]["config"]["layer"]
        self.assertEqual(inner["class_name"], "ConvLSTM2D")
        for key in ("filters", "kernel_size", "strides", "padding", "data_format", "go_backwards", "return_sequences",
                    "recurrent_activation"):
            self.assertEqual(inner["config"][key], layers[1]["config"]["layer"]["config"][key], key)
        np.testing.assert_allclose(run_model(d, [d + "/k.h5"], x), y, atol=2e-5)

    def test_mxnet_export(self):
        d = tmpdir("convlstm_real_mx")
        src = fixture(self.SRC)
        ws = keras_weights(src)
        with h5py.File(src, "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        x = np.random.default_rng(5).uniform(-1, 1, (2, 3, 4, 10, 10)).astype(np.float32)
        y = x.astype(np.float64)
        for layer in layers[1:]:
            w = ws[layer["name"]]
            y = ref_bidi(y, w[:3], w[3:], layer["config"]["layer"]["config"])
        np.testing.assert_allclose(run_model(d, [src], x), y, atol=2e-5)
        sym = check_mxnet(self, d, src, x, y, "real", "bidirectional", bidi=True)
        ops = [n["op"] for n in sym["nodes"]]
        self.assertEqual(ops.count("Convolution"), 2 * 2 * 2 * 3)  # layers x directions x (i2h, h2h) x steps
        self.assertIn("hard_sigmoid", ops)  # the fixture's recurrent_activation, exact
        # i2h weight = the Keras kernel (kh, kw, in, 4f) as MXNet's (4f, in, kh, kw)
        params = {k.split(":", 1)[1]: v for k, v in ndarray_ref.load_dict(d + "/mx-0000.params").items()}
        np.testing.assert_array_equal(params["bidirectional_forward_i2h_weight"], ws["bidirectional"][0].transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(params["bidirectional_backward_h2h_weight"], ws["bidirectional"][4].transpose(3, 2, 0, 1))
        # per-step plain ops are not a ConvLSTM: MXNet -> Keras refuses them in one line
        p = run("convert", *mx_files(d + "/mx"), "--to", "keras", "-o", d + "/back.h5")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        self.assertFalse(os.path.exists(d + "/back.h5"))

    def test_doctor_notes_unrolled_export(self):
        p = run("doctor", fixture(self.SRC), "--to", "mxnet", "--json")
        found = [f for f in json.loads(p.stdout)["findings"] if f["code"] == "mxnet-rnn"]
        self.assertEqual(len(found), 2, p.stdout)
        for f in found:
            self.assertEqual(f["severity"], "info")
            self.assertIn("ConvLSTM2D", f["message"])
            self.assertIn("per-time-step", f["message"])


def write_convlstm(path, x_shape, cfg, weights, cls="ConvLSTM2D", state_shape=None):
    """Input -> one ConvLSTM layer; with state_shape, two more inputs h0 and c0 are its initial
    states; with cfg return_state, the model's outputs are the layer's output, h and c."""
    ins = [("input_1", x_shape)] + ([("h0", state_shape), ("c0", state_shape)] if state_shape else [])
    layers = [{"name": n, "class_name": "InputLayer",
               "config": {"name": n, "batch_input_shape": [None] + list(s), "dtype": "float32"}, "inbound_nodes": []}
              for n, s in ins]
    layers.append({"name": "conv_lstm", "class_name": cls, "config": dict(cfg, name="conv_lstm"),
                   "inbound_nodes": [[[n, 0, 0, {}] for n, _ in ins]]})
    outs = [["conv_lstm", 0, i] for i in range(3 if cfg.get("return_state") else 1)]
    mc = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [[n, 0, 0] for n, _ in ins],
                                             "output_layers": outs}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(mc)
        f.attrs["keras_version"] = "2.3.1"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n, _ in ins] + [b"conv_lstm"]
        for n, _ in ins:
            g.create_group(n).attrs["weight_names"] = []
        lg = g.create_group("conv_lstm")
        lg.attrs["weight_names"] = [n.encode() for n, _ in weights]
        for n, a in weights:
            lg.create_dataset(n, data=a)


class Generated(unittest.TestCase):
    def test_windows_and_layouts(self):
        rng = np.random.default_rng(17)
        cases = [("channels_last", (1, 1), "same", (1, 1), True, False),
                 ("channels_last", (2, 1), "valid", (1, 1), False, True),
                 ("channels_first", (1, 2), "same", (2, 1), True, True),
                 ("channels_last", (1, 1), "valid", (2, 2), True, False)]
        for df, strides, padding, dil, seq, back in cases:
            tag = "%s_s%d%d_%s_d%d%d_seq%d_back%d" % (df, *strides, padding, *dil, seq, back)
            with self.subTest(tag):
                d = tmpdir("convlstm_" + tag)
                c_in, f, hw = 3, 2, (7, 6)
                x_shape = (4, c_in) + hw if df == "channels_first" else (4,) + hw + (c_in,)
                cfg = {"filters": f, "kernel_size": [3, 2], "strides": list(strides), "padding": padding, "data_format": df,
                       "dilation_rate": list(dil), "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
                       "return_sequences": seq, "go_backwards": back, "return_state": False, "stateful": False}
                k = rng.uniform(-0.5, 0.5, (3, 2, c_in, 4 * f)).astype(np.float32)
                r = rng.uniform(-0.5, 0.5, (3, 2, f, 4 * f)).astype(np.float32)
                b = rng.uniform(-0.5, 0.5, (4 * f,)).astype(np.float32)
                src = os.path.join(d, "m.h5")
                write_convlstm(src, x_shape, cfg, [("conv_lstm/kernel:0", k), ("conv_lstm/recurrent_kernel:0", r),
                                                   ("conv_lstm/bias:0", b)])
                x = rng.uniform(-1, 1, (2,) + x_shape).astype(np.float32)
                want = ref_convlstm(x, k, r, b, cfg)
                got = run_model(d, [src], x)
                self.assertEqual(got.shape, want.shape)
                np.testing.assert_allclose(got, want, atol=1e-5)
                p = run("convert", src, "--to", "keras", "-o", d + "/k.h5", "--verify")
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertEqual([a.tobytes() for a in keras_weights(src)["conv_lstm"]],
                                 [a.tobytes() for a in keras_weights(d + "/k.h5")["conv_lstm"]])
                check_mxnet(self, d, src, x, want, tag, "conv_lstm")

    def test_ranks_1_and_3_mxnet(self):
        """ConvLSTM1D / ConvLSTM3D against the 2-D reference: 1-D inserts a 1-long axis, 3-D has depth 1
        and a depth kernel of 1 (asymmetric 'same' from strides and even kernels included)."""
        rng = np.random.default_rng(23)
        cases = [(1, "channels_last", [3], [2], "same", [1], True, False),
                 (1, "channels_first", [2], [1], "valid", [2], False, True),
                 (1, "channels_last", [4], [1], "same", [1], True, True),
                 (3, "channels_last", [1, 3, 2], [1, 2, 1], "same", [1, 1, 1], True, False),
                 (3, "channels_first", [1, 2, 3], [1, 1, 1], "valid", [1, 1, 2], False, True)]
        for rank, df, ks, strides, padding, dil, seq, back in cases:
            tag = "r%d_%s_k%s_s%s_%s_d%s_seq%d_back%d" % (rank, df, "".join(map(str, ks)), "".join(map(str, strides)), padding,
                                                          "".join(map(str, dil)), seq, back)
            with self.subTest(tag):
                d = tmpdir("convlstm_" + tag)
                c_in, f = 3, 2
                sp = [9] if rank == 1 else [1, 7, 6]
                x_shape = tuple([4, c_in] + sp) if df == "channels_first" else tuple([4] + sp + [c_in])
                cfg = {"filters": f, "kernel_size": ks, "strides": strides, "padding": padding, "data_format": df,
                       "dilation_rate": dil, "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
                       "return_sequences": seq, "go_backwards": back, "return_state": False, "stateful": False}
                k = rng.uniform(-0.5, 0.5, tuple(ks) + (c_in, 4 * f)).astype(np.float32)
                r = rng.uniform(-0.5, 0.5, tuple(ks) + (f, 4 * f)).astype(np.float32)
                b = rng.uniform(-0.5, 0.5, (4 * f,)).astype(np.float32)
                src = os.path.join(d, "m.h5")
                write_convlstm(src, x_shape, cfg, [("conv_lstm/kernel:0", k), ("conv_lstm/recurrent_kernel:0", r),
                                                   ("conv_lstm/bias:0", b)], cls="ConvLSTM%dD" % rank)
                x = rng.uniform(-1, 1, (2,) + x_shape).astype(np.float32)
                pos = 2 + (df == "channels_first")  # first spatial axis of (N, T, ...)
                c2 = dict(cfg, kernel_size=ks[-2:] if rank == 3 else [1] + ks, strides=strides[-2:] if rank == 3 else [1] + strides,
                          dilation_rate=dil[-2:] if rank == 3 else [1] + dil)
                if rank == 1:
                    want = ref_convlstm(np.expand_dims(x, pos), k[None], r[None], b, c2)
                    want = np.squeeze(want, pos - (not seq))
                else:
                    want = ref_convlstm(np.squeeze(x, pos), k[0], r[0], b, c2)
                    want = np.expand_dims(want, pos - (not seq))
                got = run_model(d, [src], x)
                self.assertEqual(got.shape, want.shape)
                np.testing.assert_allclose(got, want, atol=1e-5)
                check_mxnet(self, d, src, x, want, tag, "conv_lstm")

    def test_bidirectional_merge_modes_mxnet(self):
        rng = np.random.default_rng(29)
        for k, (merge, seq, df, back) in enumerate([("concat", True, "channels_last", False), ("concat", False, "channels_first", True),
                                                     ("concat", True, "channels_first", True), ("sum", True, "channels_last", True),
                                                     ("mul", False, "channels_last", False), ("ave", True, "channels_first", False)]):
            tag = "bidi_%s_seq%d_%s_back%d" % (merge, seq, df, back)
            with self.subTest(tag):
                d = tmpdir("convlstm_" + tag)
                c_in, f, hw = 2, 3, (5, 6)
                x_shape = (3, c_in) + hw if df == "channels_first" else (3,) + hw + (c_in,)
                inner = {"name": "cl", "filters": f, "kernel_size": [2, 3], "strides": [1, 2], "padding": "same",
                         "data_format": df, "dilation_rate": [1, 1], "activation": "tanh", "recurrent_activation": "sigmoid",
                         "use_bias": True, "return_sequences": seq, "go_backwards": back, "return_state": False, "stateful": False}
                cfg = {"merge_mode": merge, "layer": {"class_name": "ConvLSTM2D", "config": inner}}
                fw = [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((2, 3, c_in, 4 * f), (2, 3, f, 4 * f), (4 * f,))]
                bw = [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((2, 3, c_in, 4 * f), (2, 3, f, 4 * f), (4 * f,))]
                names = ["kernel:0", "recurrent_kernel:0", "bias:0"]
                src = os.path.join(d, "m.h5")
                write_convlstm(src, x_shape, cfg, [("conv_lstm/forward_cl/" + n, a) for n, a in zip(names, fw)] +
                               [("conv_lstm/backward_cl/" + n, a) for n, a in zip(names, bw)], cls="Bidirectional")
                x = rng.uniform(-1, 1, (2,) + x_shape).astype(np.float32)
                yf = ref_convlstm(x, *fw, inner)
                yb = ref_convlstm(x, *bw, inner, backwards=not back)
                if seq:
                    yb = yb[:, ::-1]
                want = {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb, "mul": lambda: yf * yb,
                        "ave": lambda: (yf + yb) / 2}[merge]()
                got = run_model(d, [src], x)
                self.assertEqual(got.shape, want.shape)
                np.testing.assert_allclose(got, want, atol=1e-5)
                check_mxnet(self, d, src, x, want, tag, "conv_lstm", bidi=True)

    def test_return_state_and_initial_states(self):
        # return_state with and without return_sequences, with and without initial states, both
        # layouts. Without return_sequences the output and the state h are the same tensor: the
        # MXNet file then has that node twice among its heads.
        rng = np.random.default_rng(41)
        for df in ("channels_last", "channels_first"):
            for seq in (False, True):
                for init in (False, True):
                    tag = "%s_seq%d_init%d" % (df, seq, init)
                    with self.subTest(tag):
                        d = tmpdir("convlstm_state_" + tag)
                        cfg = {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": df,
                               "dilation_rate": [1, 1], "activation": "tanh", "recurrent_activation": "sigmoid",
                               "use_bias": True, "return_sequences": seq, "go_backwards": init, "return_state": True,
                               "stateful": False}
                        k, r, b = (rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((3, 3, 2, 8), (3, 3, 2, 8), (8,)))
                        cl = df == "channels_last"
                        x_shape, s_shape = ((3, 5, 4, 2), (5, 4, 2)) if cl else ((3, 2, 5, 4), (2, 5, 4))
                        src = os.path.join(d, "m.h5")
                        write_convlstm(src, x_shape, cfg, [("conv_lstm/kernel:0", k), ("conv_lstm/recurrent_kernel:0", r),
                                                           ("conv_lstm/bias:0", b)], state_shape=s_shape if init else None)
                        x = rng.uniform(-1, 1, (2,) + x_shape)
                        feed = {"input_1": x}
                        to_cl = (lambda a: a) if cl else (lambda a: np.moveaxis(a, 1, -1))
                        h0 = c0 = None
                        if init:
                            feed["h0"], feed["c0"] = (rng.uniform(-1, 1, (2,) + s_shape) for _ in range(2))
                            h0, c0 = to_cl(feed["h0"]), to_cl(feed["c0"])
                        want = ref_convlstm(x, k, r, b, cfg, states=True, h0=h0, c0=c0)
                        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
                        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                        self.assertIn("verify: PASS", p.stdout)
                        got, _ = mxnet_numpy.evaluate(d + "/mx", feed if init else x)  # one input is "data"
                        self.assertEqual(len(got), 3)
                        for g, w in zip(got, want):
                            self.assertEqual(g.shape, w.shape)
                            np.testing.assert_allclose(g, w, atol=1e-9)
                        p = run("convert", src, "--to", "keras", "-o", d + "/k.h5", "--verify")
                        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_unknown_sizes_refused_then_input_shape(self):
        d = tmpdir("convlstm_unknown_t")
        rng = np.random.default_rng(31)
        cfg = {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last",
               "dilation_rate": [1, 1], "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
               "return_sequences": True, "go_backwards": False, "return_state": False, "stateful": False}
        k, r, b = (rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((3, 3, 2, 8), (3, 3, 2, 8), (8,)))
        src = os.path.join(d, "m.h5")
        write_convlstm(src, (None, 5, 4, 2), cfg, [("conv_lstm/kernel:0", k), ("conv_lstm/recurrent_kernel:0", r),
                                                   ("conv_lstm/bias:0", b)])
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("layer 'conv_lstm'", p.stderr)
        self.assertIn("--input-shape T,5,4,2,", p.stderr)  # the model input's shape, the open time axis named
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))
        p = run("doctor", src, "--to", "mxnet", "--json")
        found = [f for f in json.loads(p.stdout)["findings"] if f["code"] == "mxnet-rnn"]
        self.assertEqual([f["severity"] for f in found], ["error"], p.stdout)
        self.assertIn("--input-shape T,5,4,2 ", found[0]["fix"])  # the known map size filled in
        x = rng.uniform(-1, 1, (2, 3, 5, 4, 2)).astype(np.float32)
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "3,5,4,2", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        (got,), _ = mxnet_numpy.evaluate(d + "/mx", x)
        np.testing.assert_allclose(got, ref_convlstm(x, k, r, b, cfg), atol=1e-9)


if __name__ == "__main__":
    unittest.main()
