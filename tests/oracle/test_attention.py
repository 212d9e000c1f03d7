"""Keras' dot-product Attention: softmax(query key^T) value over the last two axes. The real fixture
(a tf.keras 2.11 model, Attention of a rank-2 Dense output with itself, so its batch axis is one of
the two) and generated rank-3 models with a separate key are checked against numpy references
written here; the MXNet export (dot / batch_dot, softmax) is also run by mxnet_numpy, a numpy
evaluator of the written symbol, and reads back as the same Keras layer."""
import json
import os
import unittest

import h5py
import numpy as np

import mxnet_numpy
from wbtest import fixture, keras_weight_list, run, tmpdir, write_inputs_to_layer

FIX = "tfkeras/attention_optimizer_weights.h5"


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def attention(q, v, k=None, scale=1.0):
    k = v if k is None else k
    return softmax(scale * (q @ np.swapaxes(k, -1, -2))) @ v


def relu(x):
    return np.maximum(x, 0)


def fixture_reference(x):
    w = {(layer, name.split("/")[-1]): a.astype(np.float64) for layer, name, a in keras_weight_list(fixture(FIX))}
    h = relu(x @ w[("dense", "kernel:0")] + w[("dense", "bias:0")])
    a = attention(h, h)  # (N, 32) x (32, N): every example attends over the batch, as TF's matmul does
    h = relu(np.concatenate([h, a], -1) @ w[("dense_1", "kernel:0")] + w[("dense_1", "bias:0")])
    return relu(h @ w[("outputs", "kernel:0")] + w[("outputs", "bias:0")])


def run_one(d, files, x, tag="y"):
    np.save(os.path.join(d, tag + "_x.npy"), x.astype(np.float32))
    run("run", *files, "--input", os.path.join(d, tag + "_x.npy"), "-o", os.path.join(d, tag + ".npy"), check=0)
    return np.load(os.path.join(d, tag + ".npy"))


def write_functional(path, shapes, with_key):
    """Inputs q (Tq, d), v (Tv, dv)(, k (Tv, d)) -> Attention; Keras 2.4 functional file, no weights."""
    names = ["q", "v"] + (["k"] if with_key else [])
    return write_inputs_to_layer(path, [(n, shapes[n]) for n in names], "Attention",
                                 {"name": "att", "use_scale": False, "dropout": 0.1}, "2.4.0")


class Attention(unittest.TestCase):
    def check_generated(self, d, names, feed, want, mx_op):
        """d/m.h5 run on `feed` gives `want`; its MXNet export (holding an `mx_op` node) verifies and,
        evaluated by mxnet_numpy, gives `want` too; the way back to Keras verifies."""
        args = ["run", d + "/m.h5"]
        for n in names:
            np.save(d + "/%s.npy" % n, feed[n])
            args += ["--input", d + "/%s.npy" % n]
        run(*args, "-o", d + "/y.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y.npy"), want, atol=1e-5)
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        (got,), sym = mxnet_numpy.evaluate(d + "/mx", feed)
        np.testing.assert_allclose(got, want, atol=1e-5)
        self.assertIn(mx_op, {n["op"] for n in sym["nodes"]})
        p = run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_real_fixture(self):
        d = tmpdir("attention_real")
        x = np.random.default_rng(3).uniform(-1, 1, (3, 22)).astype(np.float32)
        want = fixture_reference(x.astype(np.float64))
        np.testing.assert_allclose(run_one(d, [fixture(FIX)], x), want, atol=1e-5)
        p = run("convert", fixture(FIX), "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        mx = [d + "/mx-symbol.json", d + "/mx-0000.params"]
        np.testing.assert_allclose(run_one(d, mx, x, "ymx"), want, atol=1e-5)
        (got,), sym = mxnet_numpy.evaluate(d + "/mx", x)
        np.testing.assert_allclose(got, want, atol=1e-5)
        self.assertEqual([n["op"] for n in sym["nodes"] if n["op"] in ("dot", "softmax")], ["dot", "softmax", "dot"])
        p = run("convert", *mx, "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with h5py.File(d + "/back.h5", "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        attention_cfgs = [l["config"] for l in layers if l["class_name"] == "Attention"]
        self.assertEqual(len(attention_cfgs), 1)
        # "dot" is the default; tf.keras Attention before 2.9 rejects a score_mode key
        self.assertNotIn("score_mode", attention_cfgs[0])
        a = [(l, w.tobytes()) for l, _, w in keras_weight_list(fixture(FIX))]
        b = [(l, w.tobytes()) for l, _, w in keras_weight_list(d + "/back.h5")]
        self.assertEqual(a, b)

    def test_rank3_with_and_without_key(self):
        rng = np.random.default_rng(8)
        for with_key in (False, True):
            with self.subTest(with_key=with_key):
                d = tmpdir("attention_gen%d" % with_key)
                shapes = {"q": (3, 4), "v": (5, 6), "k": (5, 4)} if with_key else {"q": (3, 4), "v": (5, 4)}
                names = write_functional(d + "/m.h5", shapes, with_key)
                feed = {n: rng.uniform(-1, 1, (2,) + shapes[n]).astype(np.float32) for n in names}
                want = attention(*(feed[n].astype(np.float64) for n in names))
                self.check_generated(d, names, feed, want, "batch_dot")

    def test_use_scale(self):
        # use_scale=True: one trained scalar (Keras weight 'scale', shape ()) multiplies the scores
        # before the softmax (tf.keras Attention._calculate_scores). MXNet: broadcast_mul by a (1,)
        # variable, read back as the same layer with the same scalar.
        rng = np.random.default_rng(12)
        for with_key in (False, True):
            with self.subTest(with_key=with_key):
                d = tmpdir("attention_scale%d" % with_key)
                shapes = {"q": (3, 4), "v": (5, 6), "k": (5, 4)} if with_key else {"q": (3, 4), "v": (5, 4)}
                scale = np.float32(2.75)
                names = self.scaled_model(d, scale, shapes, with_key)
                feed = {n: rng.uniform(-1, 1, (2,) + shapes[n]).astype(np.float32) for n in names}
                x64 = [feed[n].astype(np.float64) for n in names]
                want = attention(x64[0], x64[1], x64[2] if with_key else None, scale=float(scale))
                self.assertGreater(np.abs(want - attention(x64[0], x64[1], x64[2] if with_key else None)).max(), 1e-2)
                self.check_generated(d, names, feed, want, "broadcast_mul")
                with h5py.File(d + "/back.h5", "r") as f:
                    att = [l for l in json.loads(f.attrs["model_config"])["config"]["layers"] if l["class_name"] == "Attention"]
                    self.assertEqual(len(att), 1)
                    self.assertTrue(att[0]["config"]["use_scale"])
                back = [(l, w.shape, w.tobytes()) for l, _, w in keras_weight_list(d + "/back.h5")]
                self.assertEqual(back, [(att[0]["config"]["name"], (), scale.tobytes())])

    def scaled_model(self, d, scale=np.float32(2.75), shapes=None, with_key=False):
        """Inputs (default q (3, 4), v (5, 4)) -> Attention(use_scale) Keras file in d/m.h5, its scale
        stored as given (a numpy scalar is a scalar dataset, as Keras writes shape ()); returns the
        input names."""
        names = write_functional(d + "/m.h5", shapes or {"q": (3, 4), "v": (5, 4)}, with_key)
        with h5py.File(d + "/m.h5", "a") as f:
            mc = json.loads(f.attrs["model_config"])
            mc["config"]["layers"][-1]["config"]["use_scale"] = True
            f.attrs["model_config"] = json.dumps(mc).encode()
            f["model_weights/att"].attrs["weight_names"] = [b"att/scale:0"]
            f["model_weights/att"].create_dataset("att/scale:0", data=scale)
        return names

    def scaled_symbol(self, name):
        """The scaled model's MXNet export, written to tmpdir(name)/mx-*; returns the dir and the symbol."""
        d = tmpdir(name)
        self.scaled_model(d)
        run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", check=0)
        with open(d + "/mx-symbol.json") as f:
            return d, json.load(f)

    def test_scale_forms_refused(self):
        d = tmpdir("attention_scale_bad")
        # Keras stores the scale as a scalar; a (1,) array is not what tf.keras load_weights takes
        self.scaled_model(d, np.array([2.75], np.float32))
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("scale has shape (1,); Keras stores it as a scalar", p.stderr)
        # an int32 scale: the engine cannot run it, so --verify cannot run; nothing is left behind
        self.scaled_model(d, np.int32(3))
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertEqual(sorted(os.listdir(d)), ["m.h5"])

    def test_mxnet_scale_the_product_does_not_own(self):
        # The scale folds into the product only when it multiplies the product itself: through a
        # _copy whose source another head also reads, relu(q k^T) must stay unscaled, so the
        # multiply is refused rather than folded (it would scale the other head too).
        d, sym = self.scaled_symbol("attention_scale_mx")
        nodes = sym["nodes"]
        mul = next(i for i, n in enumerate(nodes) if n["op"] == "broadcast_mul")
        scores = nodes[mul]["inputs"][0][0]
        self.assertEqual(nodes[scores]["op"], "batch_dot")
        nodes.append({"op": "_copy", "name": "scores_copy", "inputs": [[scores, 0, 0]]})
        nodes.append({"op": "Activation", "name": "other", "attrs": {"act_type": "relu"}, "inputs": [[scores, 0, 0]]})
        # the copy must come before its reader: rebuild the list in a valid order
        order = list(range(mul)) + [len(nodes) - 2] + list(range(mul, len(nodes) - 2)) + [len(nodes) - 1]
        new_index = {old: new for new, old in enumerate(order)}
        nodes[mul]["inputs"][0] = [len(nodes) - 2, 0, 0]
        sym["nodes"] = [dict(nodes[i], inputs=[[new_index[e[0]], e[1], e[2]] for e in nodes[i]["inputs"]]) for i in order]
        sym["arg_nodes"] = [new_index[i] for i in sym["arg_nodes"]]
        sym["heads"] = [[new_index[h[0]], 0, 0] for h in sym["heads"]] + [[len(nodes) - 1, 0, 0]]
        sym.pop("node_row_ptr", None)
        with open(d + "/edited-symbol.json", "w") as f:
            json.dump(sym, f)
        p = run("convert", d + "/edited-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("broadcast_mul", p.stderr)
        self.assertFalse(os.path.exists(d + "/back.h5"))

    def test_mxnet_softmax_temperature_refused(self):
        d, sym = self.scaled_symbol("attention_temperature")
        next(n for n in sym["nodes"] if n["op"] == "softmax")["attrs"]["temperature"] = "4"
        with open(d + "/t-symbol.json", "w") as f:
            json.dump(sym, f)
        p = run("convert", d + "/t-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("temperature", p.stderr)

    def test_rank2_model_inputs(self):
        """Query and value straight from the model's inputs, rank 2: MXNet's dot reads a data
        variable as its second operand, and reads back as Attention."""
        d = tmpdir("attention_rank2")
        names = write_functional(d + "/m.h5", {"q": (4,), "v": (4,)}, False)
        feed = {n: np.random.default_rng(4).uniform(-1, 1, (3, 4)).astype(np.float32) + i for i, n in enumerate(names)}
        want = attention(feed["q"].astype(np.float64), feed["v"].astype(np.float64))
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        (got,), _ = mxnet_numpy.evaluate(d + "/mx", feed)
        np.testing.assert_allclose(got, want, atol=1e-5)
        p = run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_operands_that_cannot_meet(self):
        d = tmpdir("attention_mismatch")
        for i, (shapes, word) in enumerate(((({"q": (3, 4), "v": (5, 6), "k": (5, 3)}), "query width 4 differs from key width 3"),
                                            (({"q": (3, 4), "v": (5, 6), "k": (2, 4)}), "key length 2 differs from value length 5"))):
            with self.subTest(word=word):
                path = os.path.join(d, "m%d.h5" % i)
                write_functional(path, shapes, True)
                p = run("convert", path, "--to", "mxnet", "-o", d + "/mx%d" % i)
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertIn(word, p.stderr)
                self.assertFalse(os.path.exists(d + "/mx%d-symbol.json" % i))

    def test_what_is_refused(self):
        d = tmpdir("attention_refused")
        cases = [({"score_mode": "concat"}, {}, "score_mode 'concat'"),
                 ({"causal": True}, {}, "causal mask"), ({}, {"use_causal_mask": True}, "causal mask")]
        for i, (cfg, kwargs, word) in enumerate(cases):
            with self.subTest(word=word):
                path = os.path.join(d, "m%d.h5" % i)
                write_functional(path, {"q": (3, 4), "v": (5, 4)}, False)
                with h5py.File(path, "a") as f:
                    mc = json.loads(f.attrs["model_config"])
                    att = mc["config"]["layers"][-1]
                    att["config"].update(cfg)
                    for e in att["inbound_nodes"][0]:
                        e[3].update(kwargs)
                    f.attrs["model_config"] = json.dumps(mc).encode()
                p = run("convert", path, "--to", "mxnet", "-o", d + "/mx%d" % i)
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertIn("layer 'att'", p.stderr)
                self.assertIn(word, p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
