"""Recurrent layers with return_state=True and initial_state inputs (several outputs per layer).

Expected values come from outside the code under test: a float64 numpy evaluation of the Keras
graph (the RNN equations of test_rnn.ref_rnn, formats-keras.md 5.8), built from the model config
and the weights read with h5py. Keras semantics: an LSTM with return_state gives [output, h, c],
a GRU/SimpleRNN [output, h], a Bidirectional [output, forward states..., backward states...];
initial_state tensors are extra inbound tensors (Bidirectional: forward states, then backward).
"""
import json
import os
import unittest

import h5py
import numpy as np

import mxnet_numpy
import ndarray_ref
from test_convert import keras_weights
from test_rnn import GATES, CLASS, cell_config, random_cell, ref_rnn
from wbtest import fixture, run, tmpdir


# ---- numpy evaluation of a Keras functional config ----

def _cfg_cell(cls, cfg, keras_version):
    cell = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple"}[cls]
    default_ra = "hard_sigmoid" if keras_version.startswith(("2.0", "2.1", "2.2")) else "sigmoid"
    kw = {"a": cfg.get("activation", "tanh"), "ra": cfg.get("recurrent_activation", default_ra),
          "reset_after": cfg.get("reset_after", False)}
    return cell, kw


def eval_keras(path, feed):
    """{output ref: array} for every model output; feed: {input layer name: array}."""
    with h5py.File(path, "r") as f:
        mc = json.loads(f.attrs["model_config"])
        version = f.attrs.get("keras_version", b"2.2.4")
        version = version.decode() if isinstance(version, bytes) else str(version)
    weights = keras_weights(path)
    vals = {}  # (layer, tensor index) -> array
    for layer in mc["config"]["layers"]:
        name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
        ins = [vals[(e[0], e[2])] for e in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if cls == "InputLayer":
            vals[(name, 0)] = np.asarray(feed[name], np.float64)
            continue
        if cls == "Dense":
            w = weights[name]
            vals[(name, 0)] = ins[0] @ w[0] + (w[1] if len(w) > 1 else 0)
            continue
        ws = weights[name]
        if cls == "Bidirectional":
            icls, icfg = cfg["layer"]["class_name"], cfg["layer"]["config"]
            cell, kw = _cfg_cell(icls, icfg, version)
            half = len(ws) // 2
            fw, bw = ws[:half], ws[half:]
            if len(fw) == 2:
                fw, bw = fw + [None], bw + [None]
            seq, rs = icfg.get("return_sequences", False), icfg.get("return_state", False)
            back = icfg.get("go_backwards", False)
            st = ins[1:]
            ns = len(st) // 2
            yf, hf, cf = ref_rnn(cell, ins[0], *fw, seq=seq, backwards=back, states=True,
                                 h0=st[0] if st else None, c0=st[1] if ns == 2 else None, **kw)
            yb, hb, cb = ref_rnn(cell, ins[0], *bw, seq=seq, backwards=not back, states=True,
                                 h0=st[ns] if st else None, c0=st[ns + 1] if ns == 2 else None, **kw)
            if seq:
                yb = yb[:, ::-1]
            merge = cfg.get("merge_mode", "concat")
            y = {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb,
                 "mul": lambda: yf * yb, "ave": lambda: (yf + yb) / 2}[merge]()
            outs = [y] + ([hf] + ([cf] if cell == "lstm" else []) + [hb] + ([cb] if cell == "lstm" else []) if rs else [])
        else:
            cell, kw = _cfg_cell(cls, cfg, version)
            k, r, b = ws + [None] * (3 - len(ws))
            y, h, c = ref_rnn(cell, ins[0], k, r, b, seq=cfg.get("return_sequences", False),
                              backwards=cfg.get("go_backwards", False), states=True,
                              h0=ins[1] if len(ins) > 1 else None, c0=ins[2] if len(ins) > 2 else None, **kw)
            outs = [y] + ([h] + ([c] if cell == "lstm" else []) if cfg.get("return_state", False) else [])
        for i, o in enumerate(outs):
            vals[(name, i)] = o
    return [vals[(o[0], o[2])] for o in mc["config"]["output_layers"]], mc


def run_outputs(d, files, xs, n_out):
    args = ["run", *files]
    for i, x in enumerate(xs):
        p = os.path.join(d, "x%d.npy" % i)
        np.save(p, np.asarray(x, np.float32))
        args += ["--input", p]
    outs = [os.path.join(d, "y%d.npy" % i) for i in range(n_out)]
    for o in outs:
        args += ["-o", o]
    run(*args, check=0)
    return [np.load(o) for o in outs]


def mx_files(prefix):
    return [prefix + "-symbol.json", prefix + "-0000.params"]


def fdeep_inputs(rng, n=2, t3=6):
    shapes = {"input_1": (n, 17, 4), "input_2": (n, 1, 10), "input_3": (n, t3, 4), "input_4": (n, 12), "input_5": (n, 12)}
    return {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}


INPUT_ORDER = ["input_1", "input_2", "input_3", "input_4", "input_5"]


class FdeepFixture(unittest.TestCase):
    """frugally-deep's LSTM test model: 5 inputs, 17 outputs, states of lstm_3 / lstm_10 / lstm_15."""

    def test_engine_matches_numpy(self):
        d = tmpdir("rnn_state_fdeep")
        src = fixture("keras2/bidi_lstm_fdeep.h5")
        rng = np.random.default_rng(5)
        for t3 in (6, 2):  # input_3 has no fixed length
            feed = fdeep_inputs(rng, t3=t3)
            want, mc = eval_keras(src, feed)
            self.assertEqual(len(want), 17)
            got = run_outputs(d, [src], [feed[k] for k in INPUT_ORDER], len(want))
            for i, (g, w) in enumerate(zip(got, want)):
                ref = mc["config"]["output_layers"][i]
                self.assertEqual(g.shape, w.shape, ref)
                np.testing.assert_allclose(g, w, atol=2e-5, err_msg=str(ref))
        # lstm_3 (return_sequences=False): output 0 is the final h, output 2 the cell state
        np.testing.assert_allclose(got[1], got[2], atol=0)
        self.assertFalse(np.allclose(got[2], got[3]))

    def test_keras_round_trip_and_verify(self):
        d = tmpdir("rnn_state_fdeep_keras")
        src = fixture("keras2/bidi_lstm_fdeep.h5")
        run("inspect", src, check=0)
        p = run("convert", src, "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        a, b = keras_weights(src), keras_weights(d + "/k.h5")
        for layer, ws in a.items():
            self.assertEqual([w.tobytes() for w in ws], [w.tobytes() for w in b[layer]], layer)
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])["config"]
        with h5py.File(src, "r") as f:
            orig = json.loads(f.attrs["model_config"])["config"]
        self.assertEqual([list(o[:3]) for o in cfg["output_layers"]], [list(o[:3]) for o in orig["output_layers"]])
        layers = {l["name"]: l for l in cfg["layers"]}
        self.assertTrue(layers["lstm_15"]["config"]["return_state"])
        self.assertEqual([e[0] for e in layers["lstm_15"]["inbound_nodes"][0]], ["input_3", "input_4", "input_5"])
        # the written file computes the same as the numpy evaluation of the source
        feed = fdeep_inputs(np.random.default_rng(9))
        want, _ = eval_keras(src, feed)
        got = run_outputs(d, [d + "/k.h5"], [feed[k] for k in INPUT_ORDER], len(want))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=2e-5)
        xs = []
        for i, k in enumerate(INPUT_ORDER):
            xs += ["--input", os.path.join(d, "v%d.npy" % i)]
            np.save(xs[-1], feed[k])
        p = run("verify", src, "--against", d + "/k.h5", *xs)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("PASS", p.stdout)

    def test_mxnet_unrolled(self):
        """relu and hard_sigmoid gates, linear cells, states: exact per-step MXNet ops. input_3 has no
        fixed length: refused without it, exact for the length given with --input-shape NAME=dims."""
        d = tmpdir("rnn_state_fdeep_mx")
        src = fixture("keras2/bidi_lstm_fdeep.h5")
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("layer 'lstm_15'", p.stderr)
        self.assertIn("give --input-shape", p.stderr)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))
        # the per-step form is bounded: longer sequences are refused before anything is built
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "input_3=999999999999,4")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("limited to 4096 steps", p.stderr)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "input_3=6,4", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        feed = fdeep_inputs(np.random.default_rng(13), t3=6)
        want, mc = eval_keras(src, feed)
        got, _ = mxnet_numpy.evaluate(d + "/mx", feed)  # the symbol as MXNet runs it
        self.assertEqual(len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, atol=2e-5, err_msg=str(mc["config"]["output_layers"][i]))
        for g, w in zip(run_outputs(d, mx_files(d + "/mx"), [feed[k] for k in INPUT_ORDER], len(want)), want):
            np.testing.assert_allclose(g, w, atol=2e-5)


# ---- generated encoder/decoder models (MXNet-expressible) ----

def layer(name, cls, cfg, inbound):
    cfg = dict(cfg, name=name)
    return {"name": name, "class_name": cls, "config": cfg,
            "inbound_nodes": [[[i[0], 0, i[1], {}] for i in inbound]] if inbound else []}


def write_model(path, layers, inputs, outputs, weights):
    """weights: {layer: [(weight name, array)]}."""
    mc = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [[i, 0, 0] for i in inputs],
                                             "output_layers": [[o[0], 0, o[1]] for o in outputs]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(mc)
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [l["name"].encode() for l in layers]
        for l in layers:
            lg = g.create_group(l["name"])
            ws = weights.get(l["name"], [])
            lg.attrs["weight_names"] = [n.encode() for n, _ in ws]
            for n, a in ws:
                lg.create_dataset(n, data=np.asarray(a, np.float32))


def named(prefix, k, r, b):
    return [(prefix + "kernel:0", k), (prefix + "recurrent_kernel:0", r)] + ([(prefix + "bias:0", b)] if b is not None else [])


def encoder_decoder(path, rng, cell, enc_back=False, dec_seq=True, c_in=3, c_dec=2, u=4):
    ra = {"reset_after": True} if cell == "gru" else {}
    enc = cell_config(cell, "encoder", u, backwards=enc_back, seq=False, **ra)
    enc["return_state"] = True
    dec = cell_config(cell, "decoder", u, seq=dec_seq, **ra)
    ke, kd = random_cell(rng, cell, c_in, u, **ra), random_cell(rng, cell, c_dec, u, **ra)
    states = [("encoder", 1)] + ([("encoder", 2)] if cell == "lstm" else [])
    layers = [layer("enc_in", "InputLayer", {"batch_input_shape": [None, 5, c_in], "dtype": "float32"}, []),
              layer("dec_in", "InputLayer", {"batch_input_shape": [None, 4, c_dec], "dtype": "float32"}, []),
              layer("encoder", CLASS[cell], enc, [("enc_in", 0)]),
              layer("decoder", CLASS[cell], dec, [("dec_in", 0)] + states),
              layer("head", "Dense", {"units": 2, "activation": "linear", "use_bias": True}, [states[-1]])]
    head = (rng.uniform(-1, 1, (u, 2)).astype(np.float32), rng.uniform(-1, 1, 2).astype(np.float32))
    outputs = [("decoder", 0)] + states + [("head", 0)]
    write_model(path, layers, ["enc_in", "dec_in"], outputs,
                {"encoder": named("encoder/", *ke), "decoder": named("decoder/", *kd),
                 "head": [("head/kernel:0", head[0]), ("head/bias:0", head[1])]})
    return len(outputs)


class EncoderDecoder(unittest.TestCase):
    def check(self, tag, cell, **kw):
        d = tmpdir("rnn_state_" + tag)
        src = os.path.join(d, "m.h5")
        rng = np.random.default_rng(21)
        n_out = encoder_decoder(src, rng, cell, **kw)
        feed = {"enc_in": rng.uniform(-1, 1, (3, 5, 3)).astype(np.float32),
                "dec_in": rng.uniform(-1, 1, (3, 4, 2)).astype(np.float32)}
        want, _ = eval_keras(src, feed)
        xs = [feed["enc_in"], feed["dec_in"]]
        for g, w in zip(run_outputs(d, [src], xs, n_out), want):
            np.testing.assert_allclose(g, w, atol=1e-5, err_msg=tag)
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        with open(d + "/mx-symbol.json") as f:
            sym = json.load(f)
        rnns = [n for n in sym["nodes"] if n["op"] == "RNN"]
        self.assertEqual(len(rnns), 2)
        enc = [n for n in rnns if n["name"] == "encoder"][0]
        dec = [n for n in rnns if n["name"] == "decoder"][0]
        self.assertEqual(enc["attrs"]["state_outputs"], "True")
        # the decoder's begin states are computed from the encoder's state outputs (entries 1, 2)
        self.assertTrue(all(sym["nodes"][e[0]]["op"] != "_zeros" for e in dec["inputs"][2:]))
        used = {(e[0], e[1]) for n in sym["nodes"] for e in n["inputs"]}
        eid = sym["nodes"].index(enc)
        self.assertIn((eid, 1), used)
        if cell == "lstm":
            self.assertIn((eid, 2), used)
        for g, w in zip(run_outputs(d, mx_files(d + "/mx"), xs, n_out), want):
            np.testing.assert_allclose(g, w, atol=1e-5, err_msg=tag + " mxnet")
        p = run("convert", *mx_files(d + "/mx"), "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        a, b = keras_weights(src), keras_weights(d + "/back.h5")
        for name in ("encoder", "decoder", "head"):
            self.assertEqual([w.tobytes() for w in a[name]], [w.tobytes() for w in b[name]], name)
        with h5py.File(d + "/back.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])["config"]
        layers = {l["name"]: l for l in cfg["layers"]}
        self.assertTrue(layers["encoder"]["config"]["return_state"])
        self.assertEqual([e[2] for e in layers["decoder"]["inbound_nodes"][0]], [0, 1] + ([2] if cell == "lstm" else []))
        for g, w in zip(run_outputs(d, [d + "/back.h5"], xs, n_out), want):
            np.testing.assert_allclose(g, w, atol=1e-5, err_msg=tag + " back")

    def test_lstm(self):
        self.check("lstm", "lstm")

    def test_lstm_backwards_encoder_last_decoder(self):
        self.check("lstm_back", "lstm", enc_back=True, dec_seq=False)

    def test_gru(self):
        self.check("gru", "gru")

    def test_simple(self):
        self.check("simple", "simple")


class BidirectionalStates(unittest.TestCase):
    def test_bidirectional_return_state_and_initial_state_engine(self):
        """Bidirectional(LSTM, return_state) -> 4 states; a second Bidirectional starts from them."""
        d = tmpdir("rnn_state_bidi")
        rng = np.random.default_rng(4)
        u = 3
        inner = cell_config("lstm", "inner_a", u, seq=True)
        inner["return_state"] = True
        inner_b = cell_config("lstm", "inner_b", u, seq=False)
        fa, ba = random_cell(rng, "lstm", 2, u), random_cell(rng, "lstm", 2, u)
        fb, bb = random_cell(rng, "lstm", 2 * u, u), random_cell(rng, "lstm", 2 * u, u)
        st = [("bidi_a", k) for k in (1, 2, 3, 4)]
        layers = [layer("x", "InputLayer", {"batch_input_shape": [None, 4, 2], "dtype": "float32"}, []),
                  layer("bidi_a", "Bidirectional", {"layer": {"class_name": "LSTM", "config": inner}, "merge_mode": "concat"}, [("x", 0)]),
                  layer("bidi_b", "Bidirectional", {"layer": {"class_name": "LSTM", "config": inner_b}, "merge_mode": "sum"},
                        [("bidi_a", 0)] + st)]
        src = os.path.join(d, "m.h5")
        write_model(src, layers, ["x"], [("bidi_b", 0)] + st,
                    {"bidi_a": named("bidi_a/forward_inner_a/", *fa) + named("bidi_a/backward_inner_a/", *ba),
                     "bidi_b": named("bidi_b/forward_inner_b/", *fb) + named("bidi_b/backward_inner_b/", *bb)})
        x = rng.uniform(-1, 1, (2, 4, 2)).astype(np.float32)
        want, _ = eval_keras(src, {"x": x})
        got = run_outputs(d, [src], [x], 5)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-5)
        run("convert", src, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        for g, w in zip(run_outputs(d, [d + "/k.h5"], [x], 5), want):
            np.testing.assert_allclose(g, w, atol=1e-5)
        # states between Bidirectional layers and merge_mode sum: exact per-step MXNet ops
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        got, _ = mxnet_numpy.evaluate(d + "/mx", x)
        self.assertEqual(len(got), 5)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-5)


if __name__ == "__main__":
    unittest.main()
