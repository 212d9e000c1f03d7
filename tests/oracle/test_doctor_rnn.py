"""doctor on recurrent layers: one small file per finding kind (built here with h5py, or a real
fixture whose layer has exactly that property), asserting the finding, its evidence (against
figures computed here with h5py/numpy) and its fix; files without the fault get none of them."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_rnn import C, T, U, cell_config, mx_files, named, random_cell, write_keras
from wbtest import fixture, run, tmpdir

RNN_CODES = {"gate-order", "bias-count", "gru-reset-after", "hard-sigmoid", "hard-sigmoid-slope", "mxnet-rnn"}


def doctor(*args, expect=None):
    p = run("doctor", *args, "--json")
    if expect is not None:
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def rnn(doc, code=None):
    return [f for f in doc["findings"] if f["kind"] == "rnn" and (code is None or f["code"] == code)]


def one(doc, code):
    found = rnn(doc, code)
    assert len(found) == 1, (code, doc)
    return found[0]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x, slope):
    return np.clip(slope * x + 0.5, 0.0, 1.0)


GRID = np.linspace(-10, 10, 200001)


def keras_file(d, name, cell, **opts):
    """A Keras 2.2.4 functional model input (T, C) -> one recurrent layer with random weights."""
    rng = np.random.default_rng(5)
    version = opts.pop("version", "2.2.4")
    bias = opts.pop("bias", True)
    k, r, b = random_cell(rng, cell, C, U, opts.get("reset_after", False), bias=bias)
    cls = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}[cell]
    cfg = cell_config(cell, name, U, bias=bias, **opts)
    path = os.path.join(d, name + ".h5")
    write_keras(path, T, C, cls, cfg, named(name + "/", k, r, b), keras_version=version)
    return path, (k, r, b)


def keras1_file(path, cell, inner="sigmoid", t=T, second_inner=None):
    """A Keras 1.2.2 Sequential file with one LSTM (12 arrays, gates i,c,f,o) or GRU (9 arrays z,r,h);
    with second_inner, a second layer of the same cell (that inner activation) reads the first's sequence."""
    gates = "icfo" if cell == "lstm" else "zrh"
    rng = np.random.default_rng(9)
    cls = "LSTM" if cell == "lstm" else "GRU"
    inners = [inner] + ([second_inner] if second_inner else [])
    layers, arrays = [], {}
    for i, act in enumerate(inners):
        name, width = "rnn_%d" % (i + 1), C if i == 0 else U
        layers.append({"class_name": cls, "config": {
            "name": name, "output_dim": U, "activation": "tanh", "inner_activation": act, "input_dim": width,
            "return_sequences": i + 1 < len(inners), "go_backwards": False, "stateful": False, "consume_less": "cpu"}})
        arrays[name] = []
        for g in gates:
            arrays[name] += [(name + "_W_" + g, rng.uniform(-1, 1, (width, U))), (name + "_U_" + g, rng.uniform(-1, 1, (U, U))),
                             (name + "_b_" + g, rng.uniform(-1, 1, (U,)))]
    layers[0]["config"]["batch_input_shape"] = [None, t, C]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in arrays]
        for name, ws in arrays.items():
            lg = g.create_group(name)
            lg.attrs["weight_names"] = [n.encode() for n, _ in ws]
            for n, a in ws:
                lg.create_dataset(n, data=np.asarray(a, np.float32))
    return dict(arrays["rnn_1"])


class CleanFiles(unittest.TestCase):
    def test_no_rnn_findings_without_the_fault(self):
        d = tmpdir("docrnn_clean")
        lstm, _ = keras_file(d, "lstm_1", "lstm")
        gru, _ = keras_file(d, "gru_1", "gru", reset_after=True)
        simple, _ = keras_file(d, "rnn_1", "simple")
        for path in (lstm, gru, simple):
            # Keras 2 to Keras 2: nothing at all.
            self.assertEqual(doctor(path, "--to", "keras", expect=0)["findings"], [], path)
        # Towards MXNet a sigmoid LSTM / GRU(reset_after=True) has no gate-activation, reset_after or
        # slope problem; an LSTM keeps its gate order.
        for path in (lstm, gru, simple):
            codes = {f["code"] for f in rnn(doctor(path, "--to", "mxnet", expect=0))}
            self.assertFalse(codes & {"gru-reset-after", "hard-sigmoid", "hard-sigmoid-slope", "mxnet-rnn"}, path)
        self.assertNotIn("gate-order", {f["code"] for f in rnn(doctor(lstm, "--to", "mxnet"))})
        # A model without recurrent layers gets no rnn findings for any target.
        for target in ("keras", "keras3", "mxnet"):
            self.assertEqual(rnn(doctor(fixture("keras2/cnn_batch_norm.h5"), "--to", target)), [])

    def test_bad_target_is_a_usage_error(self):
        p = run("doctor", fixture("keras2/cnn_batch_norm.h5"), "--to", "caffe")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--to", p.stderr)


class GateOrder(unittest.TestCase):
    def test_keras1_lstm_real_fixture(self):
        src = fixture("keras1/simple_lstm_th_model.h5")
        with h5py.File(src, "r") as f:
            g = f["model_weights/lstm_1"]
            names = [n.decode() for n in g.attrs["weight_names"]]
            widths = sum(g[n].shape[-1] for n in names if "_W_" in n)
            rows = g["lstm_1_W_i"].shape[0]
        # the file's own order: W, U, b per gate, gates i, c, f, o
        self.assertEqual([n.split("_")[-1] for n in names[::3]], ["i", "c", "f", "o"])
        for target in ("keras", "mxnet"):
            doc = doctor(src, "--to", target, expect=1)
            f = one(doc, "gate-order")
            self.assertEqual(f["severity"], "warning")
            self.assertEqual(f["where"], "lstm_1 (LSTM)")
            self.assertIn("i,c,f,o", f["message"])
            self.assertIn("i,f,c,o", f["message"])
            self.assertIn("(%d, %d)" % (rows, widths), f["evidence"])
            self.assertIn("lstm_1_W_i+lstm_1_W_f+lstm_1_W_c+lstm_1_W_o", f["evidence"])
            self.assertIn("--to " + target, f["fix"])

    def test_keras1_lstm_small_file_and_the_fix(self):
        d = tmpdir("docrnn_k1lstm")
        src = d + "/k1.h5"
        arrays = keras1_file(src, "lstm")
        doc = doctor(src, "--to", "keras", expect=1)
        self.assertEqual([f["code"] for f in rnn(doc)], ["gate-order"])  # exactly this fault
        # the fix, run as given: kernel = [W_i, W_f, W_c, W_o] (numpy), outputs verified
        fix = one(doc, "gate-order")["fix"].split(" (")[0].split()
        fix[fix.index("-o") + 1] = d + "/fixed.h5"
        run(*fix[1:], check=0)
        with h5py.File(d + "/fixed.h5", "r") as f:
            kernel = np.array(f["model_weights/rnn_1/rnn_1/kernel:0"])
            bias = np.array(f["model_weights/rnn_1/rnn_1/bias:0"])
        want = np.concatenate([arrays["rnn_1_W_" + g] for g in "ifco"], -1).astype(np.float32)
        np.testing.assert_array_equal(kernel, want)
        np.testing.assert_array_equal(bias, np.concatenate([arrays["rnn_1_b_" + g] for g in "ifco"]).astype(np.float32))
        self.assertEqual(rnn(doctor(d + "/fixed.h5", "--to", "keras", expect=0)), [])

    def test_keras1_gru_nine_arrays(self):
        d = tmpdir("docrnn_k1gru")
        keras1_file(d + "/g.h5", "gru")
        f = one(doctor(d + "/g.h5", "--to", "keras"), "gate-order")
        self.assertEqual(f["severity"], "info")
        self.assertIn("9 per-gate arrays", f["message"])
        self.assertIn("rnn_1_W_z+rnn_1_W_r+rnn_1_W_h", f["evidence"])
        # reset_after=False: MXNet gets per-step ops in Keras' own gate order
        f = one(doctor(d + "/g.h5", "--to", "mxnet", expect=0), "gate-order")
        self.assertIn("per-step export takes fused matrices in the same order", f["message"])

    def test_gru_keras_to_mxnet_and_back(self):
        d = tmpdir("docrnn_gru")
        src, _ = keras_file(d, "gru_1", "gru", reset_after=True)
        f = one(doctor(src, "--to", "mxnet", expect=0), "gate-order")
        self.assertEqual(f["severity"], "info")
        self.assertIn("Keras z,r,h, MXNet r,z,n", f["message"])
        self.assertIn("(%d, %d)" % (C, 3 * U), f["evidence"])
        # the default target of a Keras file is MXNet; of an MXNet model Keras
        self.assertEqual(doctor(src)["target"], "mxnet")
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", check=0)
        doc = doctor(*mx_files(d + "/mx"), expect=0)
        self.assertEqual(doc["target"], "keras")
        f = one(doc, "gate-order")
        self.assertIn("MXNet r,z,n, Keras z,r,h", f["message"])
        self.assertIn("gru_1_parameters", f["evidence"])
        # --into names the target: the Keras file going into the MXNet model
        self.assertEqual(doctor(src, "--into", *mx_files(d + "/mx"))["target"], "mxnet")

    def test_cudnn_kernels(self):
        d = tmpdir("docrnn_cudnn")
        rng = np.random.default_rng(2)
        k = rng.uniform(-1, 1, (C, 4 * U)).astype(np.float32)
        r = rng.uniform(-1, 1, (U, 4 * U)).astype(np.float32)
        b = rng.uniform(-1, 1, (8 * U,)).astype(np.float32)
        cfg = {"name": "cu_1", "units": U, "return_sequences": False, "go_backwards": False, "stateful": False}
        write_keras(d + "/cu.h5", T, C, "CuDNNLSTM", cfg, named("cu_1/", k, r, b))
        doc = doctor(d + "/cu.h5", "--to", "keras", expect=0)
        self.assertIn("CuDNNLSTM", one(doc, "gate-order")["message"])
        # two biases per gate summed: count the float32 sums that round, with numpy
        exact = b[:4 * U].astype(np.float64) + b[4 * U:].astype(np.float64)
        rounded = int(np.sum(exact.astype(np.float32).astype(np.float64) != exact))
        f = one(doc, "bias-count")
        self.assertIn("(%d,)" % (8 * U), f["evidence"])
        if rounded:
            worst = np.abs(exact.astype(np.float32).astype(np.float64) - exact).max()
            self.assertIn("%d of %d sums round" % (rounded, 4 * U), f["evidence"])
            self.assertIn("%.3g" % worst, f["evidence"])
        else:
            self.assertIn("every float32 sum is exact", f["evidence"])


class BiasCount(unittest.TestCase):
    def test_keras_lstm_to_mxnet(self):
        d = tmpdir("docrnn_bias_lstm")
        src, (_k, _r, b) = keras_file(d, "lstm_1", "lstm")
        f = one(doctor(src, "--to", "mxnet", expect=0), "bias-count")
        self.assertEqual(f["severity"], "info")
        self.assertIn("b_h2h = 0", f["message"])
        self.assertIn("(%d,) = 4 gates x %d units" % (b.shape[0], U), f["evidence"])
        # what the fix writes: b_i2h = the Keras bias, b_h2h = 0 (the last 8u values of the flat vector)
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", check=0)
        flat = ndarray_ref.load_dict(d + "/mx-0000.params")["arg:lstm_1_parameters"]
        np.testing.assert_array_equal(flat[-8 * U:-4 * U], b)
        np.testing.assert_array_equal(flat[-4 * U:], np.zeros(4 * U, np.float32))

    def test_gru_reset_after_bias_rows(self):
        d = tmpdir("docrnn_bias_gru")
        src, (_k, _r, b) = keras_file(d, "gru_1", "gru", reset_after=True)
        self.assertEqual(b.shape, (2, 3 * U))
        f = one(doctor(src, "--to", "mxnet", expect=0), "bias-count")
        self.assertIn("(2, %d)" % (3 * U), f["evidence"])
        self.assertIn("row 0 becomes b_i2h, row 1 b_h2h", f["message"])

    def test_no_bias(self):
        d = tmpdir("docrnn_nobias")
        src, _ = keras_file(d, "lstm_1", "lstm", bias=False)
        f = one(doctor(src, "--to", "mxnet", expect=0), "bias-count")
        self.assertIn("use_bias=False", f["message"])

    def test_mxnet_two_biases_to_keras(self):
        d = tmpdir("docrnn_bias_mx")
        src, _ = keras_file(d, "lstm_1", "lstm")
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", check=0)
        f = one(doctor(*mx_files(d + "/mx"), expect=0), "bias-count")
        self.assertIn("b_h2h is zero", f["message"])
        # a nonzero b_h2h: Keras gets the float32 sum
        names, arrays, _ = ndarray_ref.load(d + "/mx-0000.params")
        flat = arrays[names.index("arg:lstm_1_parameters")].copy()
        flat[-4 * U:] = 0.125
        ndarray_ref.save(d + "/mx2-0000.params", [(n, flat if n == "arg:lstm_1_parameters" else a) for n, a in zip(names, arrays)])
        f = one(doctor(d + "/mx-symbol.json", d + "/mx2-0000.params", expect=0), "bias-count")
        self.assertIn("float32 sum", f["message"])


class MxnetCannotCompute(unittest.TestCase):
    """What MXNet's fused RNN op cannot compute: a note when convert writes the layer as exact
    per-time-step ops (the sequence length is known), an error naming --input-shape when it is not."""

    def run_fix(self, fix, out):
        cmd = fix.split(" (")[0].split()
        cmd[cmd.index("-o") + 1] = out
        return run(*cmd[1:])

    def test_gru_reset_after_false(self):
        d = tmpdir("docrnn_resetafter")
        src, (_k, _r, b) = keras_file(d, "gru_1", "gru", reset_after=False)
        doc = doctor(src, "--to", "mxnet", expect=0)
        f = one(doc, "gru-reset-after")
        self.assertEqual(f["severity"], "info")
        self.assertIn("per-time-step MXNet ops (%d steps)" % T, f["message"])
        self.assertIn("(%d,)" % b.shape[0], f["evidence"])
        self.assertIn("(2, %d)" % (3 * U), f["evidence"])
        self.assertEqual(rnn(doc, "gate-order"), [])  # per-step ops keep z,r,h: no reordering to note
        # the fix as given writes the exact MXNet model
        p = self.run_fix(f["fix"], d + "/mx")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        self.assertEqual(rnn(doctor(src, "--to", "keras", expect=0)), [])
        # every Keras 1 GRU is reset_after=False
        keras1_file(d + "/k1.h5", "gru")
        self.assertIn("Keras 1", one(doctor(d + "/k1.h5", "--to", "mxnet"), "gru-reset-after")["evidence"])

    def test_unknown_sequence_length_is_an_error_naming_input_shape(self):
        d = tmpdir("docrnn_notime")
        rng = np.random.default_rng(2)
        k, r, b = random_cell(rng, "gru", C, U)
        src = os.path.join(d, "m.h5")
        write_keras(src, None, C, "GRU", cell_config("gru", "gru_1", U, reset_after=False), named("gru_1/", k, r, b))
        f = one(doctor(src, "--to", "mxnet", expect=1), "gru-reset-after")
        self.assertEqual(f["severity"], "error")
        self.assertIn("sequence length", f["message"])
        self.assertIn("--input-shape T,%d " % C, f["fix"])  # the known feature width filled in, only T to give
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("give --input-shape", p.stderr)
        p = self.run_fix(f["fix"].replace("T,%d" % C, "%d,%d" % (T, C)), d + "/mx")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)

    def test_input_shape_fix_is_the_model_inputs_shape(self):
        # Embedding -> GRU: the model input is (T,) token ids, not the GRU's (T, FEATURES); the fix
        # names the model input's one unknown dim and works once it is given.
        from wbtest import write_sequential
        d = tmpdir("docrnn_embed_notime")
        rng = np.random.default_rng(4)
        k, r, b = random_cell(rng, "gru", C, U)
        emb = rng.uniform(-1, 1, (7, C)).astype(np.float32)
        src = os.path.join(d, "m.h5")
        write_sequential(src, [None], [("Embedding", {"name": "emb", "input_dim": 7, "output_dim": C}, [("embeddings", emb)]),
                                       ("GRU", cell_config("gru", "gru_1", U, reset_after=False),
                                        [("kernel", k), ("recurrent_kernel", r), ("bias", b)])])
        f = one(doctor(src, "--to", "mxnet", expect=1), "gru-reset-after")
        self.assertIn("--input-shape T ", f["fix"])
        p = self.run_fix(f["fix"].replace("--input-shape T ", "--input-shape %d " % T), d + "/mx")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)

    def test_input_shape_fix_names_every_open_input_and_runs_in_a_shell(self):
        # Each suggested command, with T and D<i> replaced by numbers, is run by a shell as a user
        # would paste it: the model's every open input is given, known dims are filled in (the
        # feature axis from the kernel rows of a GRU fed directly), input names and file names
        # with spaces or quotes survive.
        import re
        import subprocess
        from wbtest import BIN, write_functional
        rng = np.random.default_rng(9)
        rnd = lambda *s: rng.uniform(-0.5, 0.5, s).astype(np.float32)
        gru_w = lambda c: [("kernel", rnd(c, 3 * U)), ("recurrent_kernel", rnd(U, 3 * U)), ("bias", rnd(3 * U))]
        gru = cell_config("gru", "g", U, reset_after=False)
        lstm = cell_config("lstm", "l", U, ra="hard_sigmoid")
        lstm_w = [("kernel", rnd(3, 4 * U)), ("recurrent_kernel", rnd(U, 4 * U)), ("bias", rnd(4 * U))]
        dense = {"units": 2, "activation": "linear", "use_bias": True}
        convlstm = {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last",
                    "dilation_rate": [1, 1], "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
                    "return_sequences": False, "go_backwards": False, "stateful": False}
        models = {
            "two sequence inputs": ([("x", [None, C]), ("z", [None, 3])],
                                    [("GRU", "gru_1", gru, ["x"], gru_w(C)), ("LSTM", "lstm_1", lstm, ["z"], lstm_w),
                                     ("Concatenate", "cat", {"axis": -1}, ["gru_1", "lstm_1"], [])], ["cat"]),
            "embedding of one of two inputs": ([("tok", [None]), ("y", [5])],
                                               [("Embedding", "emb", {"input_dim": 20, "output_dim": 6}, ["tok"], [("embeddings", rnd(20, 6))]),
                                                ("GRU", "gru_1", gru, ["emb"], gru_w(6)),
                                                ("Dense", "d", dense, ["y"], [("kernel", rnd(5, 2)), ("bias", rnd(2))]),
                                                ("Concatenate", "cat", {"axis": -1}, ["gru_1", "d"], [])], ["cat"]),
            "feature axis open": ([("x", [None, None])], [("GRU", "gru_1", gru, ["x"], gru_w(C))], ["gru_1"]),
            "convlstm map open": ([("v", [4, None, None, 3])],
                                  [("ConvLSTM2D", "cl", convlstm, ["v"], [("kernel", rnd(3, 3, 3, 8)), ("recurrent_kernel", rnd(3, 3, 2, 8)),
                                                                          ("bias", rnd(8))])], ["cl"]),
            "input name with a space and '='": ([("my in=put", [None, C]), ("y", [5])],
                                                [("GRU", "gru_1", gru, ["my in=put"], gru_w(C)),
                                                 ("Dense", "d", dense, ["y"], [("kernel", rnd(5, 2)), ("bias", rnd(2))]),
                                                 ("Concatenate", "cat", {"axis": -1}, ["gru_1", "d"], [])], ["cat"]),
        }
        for tag, (inputs, layers, outputs) in models.items():
            with self.subTest(tag):
                d = tmpdir("docrnn_fix_shell")
                sub = os.path.join(d, "dir with space")
                os.makedirs(sub)
                src = os.path.join(sub, "it's $(no).h5")
                write_functional(src, inputs, layers, outputs)
                fixes = {f["fix"].split(" (")[0] for f in doctor(src, "--to", "mxnet", expect=1)["findings"]
                         if "--input-shape" in f["fix"]}
                self.assertEqual(len(fixes), 1, fixes)
                cmd = re.sub(r"\bT\b", str(T), fixes.pop())
                cmd = re.sub(r"\bD(\d)\b", lambda m: str(5 + int(m.group(1))), cmd)
                self.assertNotIn("FEATURES", cmd)
                cmd = cmd.replace("weightbridge ", "'%s' " % BIN, 1).replace(" -o model ", " -o '%s/mx' " % d)
                p = subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=d)
                self.assertEqual(p.returncode, 0, cmd + "\n" + p.stdout + p.stderr)
                self.assertIn("verify: PASS", p.stdout)

    def test_hard_sigmoid_real_fixture_and_the_fix(self):
        d = tmpdir("docrnn_hs")
        src = fixture("keras2/simple_lstm_tf_model.h5")
        with h5py.File(src, "r") as h:
            self.assertEqual(json.loads(h.attrs["model_config"])["config"][0]["config"]["recurrent_activation"], "hard_sigmoid")
        doc = doctor(src, expect=0)  # default target of a Keras file: MXNet
        self.assertEqual(doc["target"], "mxnet")
        f = one(doc, "hard-sigmoid")
        self.assertEqual(f["severity"], "info")
        gap = np.abs(hard_sigmoid(GRID, 0.2) - sigmoid(GRID)).max()
        self.assertIn("%.4f" % gap, f["evidence"])
        self.assertIn("--accept-sigmoid-for-hard-sigmoid", f["fix"])
        self.assertEqual(rnn(doctor(src, "--to", "keras", expect=0)), [])
        # the per-step export keeps the Keras bias whole: no b_i2h/b_h2h note
        self.assertEqual(rnn(doc, "bias-count"), [])
        # the first fix is exact (verify passes); the fused-op alternative moves the outputs (exit 1)
        p = self.run_fix(f["fix"], d + "/mx")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        p = self.run_fix(f["fix"].split("; or ")[1], d + "/fused")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("hard_sigmoid gates exported as sigmoid", p.stdout)
        self.assertTrue(os.path.exists(d + "/fused-0000.params"))
        # Keras 1 inner_activation hard_sigmoid too
        self.assertIn("Keras 1", one(doctor(fixture("keras1/simple_lstm_th_model.h5"), "--to", "mxnet"), "hard-sigmoid")["evidence"])

    def test_hard_sigmoid_keras3_slope(self):
        d = tmpdir("docrnn_hs3")
        src, _ = keras_file(d, "lstm_1", "lstm", ra="hard_sigmoid", version="3.3.3")
        f = one(doctor(src, "--to", "mxnet"), "hard-sigmoid")
        gap = np.abs(hard_sigmoid(GRID, 1 / 6) - sigmoid(GRID)).max()
        self.assertIn("%.4f" % gap, f["evidence"])
        self.assertIn("clip(0.166667 x", f["evidence"])

    def test_other_fused_gaps_real_fixture(self):
        d = tmpdir("docrnn_other")
        src = fixture("tfkeras/gru_two_inputs.h5")
        f = one(doctor(src, "--to", "mxnet"), "mxnet-rnn")
        self.assertEqual(f["severity"], "info")
        self.assertIn("activation 'linear'", f["message"])
        self.assertIn("inputs=2", f["evidence"])
        p = self.run_fix(f["fix"], d + "/mx")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)


class HardSigmoidSlope(unittest.TestCase):
    def test_keras3_slope_has_no_keras2_form(self):
        d = tmpdir("docrnn_slope")
        src, _ = keras_file(d, "lstm_1", "lstm", ra="hard_sigmoid", version="3.3.3")
        f = one(doctor(src, "--to", "keras", expect=1), "hard-sigmoid-slope")
        self.assertEqual(f["severity"], "error")
        gap = np.abs(hard_sigmoid(GRID, 1 / 6) - hard_sigmoid(GRID, 0.2)).max()  # 1/12 at x = +-2.5
        self.assertIn("%.4f" % gap, f["evidence"])
        self.assertEqual(run("convert", src, "--to", "keras", "-o", d + "/k.h5").returncode, 3)
        # the same layer written by Keras 2 has slope 0.2: nothing to say for Keras 2 ...
        k2, _ = keras_file(d, "lstm_2", "lstm", ra="hard_sigmoid", version="2.2.4")
        self.assertEqual(rnn(doctor(k2, "--to", "keras", expect=0)), [])
        # ... but Keras 3 reads 'hard_sigmoid' with slope 1/6
        f = one(doctor(k2, "--to", "keras3", expect=1), "hard-sigmoid-slope")
        self.assertEqual(f["severity"], "warning")
        self.assertIn("0.2 * x + 0.5", f["fix"])

    def test_dense_hard_sigmoid_keras3(self):
        d = tmpdir("docrnn_slope_dense")
        cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "activation": "hard_sigmoid", "use_bias": True,
                                               "batch_input_shape": [None, 3]}}]}}
        with h5py.File(d + "/m.h5", "w") as f:
            f.attrs["keras_version"] = "3.3.3"
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = json.dumps(cfg)
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense_1"]
            g.attrs["keras_version"] = "3.3.3"
            g.attrs["backend"] = "tensorflow"
            lg = g.create_group("dense_1")
            lg.attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
            lg.create_dataset("dense_1/kernel:0", data=np.arange(6, dtype=np.float32).reshape(3, 2) / 7)
            lg.create_dataset("dense_1/bias:0", data=np.float32([0.1, -0.2]))
        f = one(doctor(d + "/m.h5", "--to", "keras", expect=1), "hard-sigmoid-slope")
        self.assertIn("--to mxnet", f["fix"])
        self.assertEqual(rnn(doctor(d + "/m.h5", "--to", "mxnet")), [])  # MXNet's hard_sigmoid takes the slope


class HumanOutput(unittest.TestCase):
    def test_grouped_by_severity_with_headline_evidence_fix(self):
        # Keras 1 LSTMs (gate order: warnings) without a fixed sequence length: the first with sigmoid
        # gates (the fused op: bias count note), the second with hard_sigmoid gates (error: MXNet gets
        # neither the fused op nor exact per-step ops)
        src = os.path.join(tmpdir("docrnn_human"), "k1.h5")
        keras1_file(src, "lstm", inner="sigmoid", t=None, second_inner="hard_sigmoid")
        doc = doctor(src, "--to", "mxnet", expect=1)
        p = run("doctor", src, "--to", "mxnet")
        self.assertEqual(p.returncode, 1)
        out = p.stdout
        n = {s: sum(f["severity"] == s for f in doc["findings"]) for s in ("error", "warning", "info")}
        self.assertTrue(all(n.values()), n)
        self.assertIn("doctor (target: mxnet): %d error%s, %d warning%s, %d note%s" % (
            n["error"], "" if n["error"] == 1 else "s", n["warning"], "" if n["warning"] == 1 else "s",
            n["info"], "" if n["info"] == 1 else "s"), out)
        e, w, i = out.index("ERRORS"), out.index("WARNINGS"), out.index("NOTES")
        self.assertLess(e, w)
        self.assertLess(w, i)
        # every finding: a numbered headline in its severity's section, then evidence and fix lines
        lines = out.splitlines()
        for f in doc["findings"]:
            head = [k for k, line in enumerate(lines) if line.endswith("%s: %s" % (f["where"], f["message"]))]
            self.assertEqual(len(head), 1, f)
            k = head[0]
            self.assertRegex(lines[k], r"^\s*\d+\. \[%s/%s\]" % (f["kind"], f["code"]))
            self.assertEqual(lines[k + 1].strip(), "evidence: " + f["evidence"])
            self.assertEqual(lines[k + 2].strip(), "fix:      " + f["fix"])
            section = {"error": e, "warning": w, "info": i}[f["severity"]]
            self.assertGreater(out.index(lines[k]), section)
        clean = run("doctor", fixture("keras2/cnn_batch_norm.h5"), check=0).stdout
        self.assertIn("no findings", clean)


if __name__ == "__main__":
    unittest.main()
