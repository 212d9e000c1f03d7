"""diff on recurrent layers and on every convertible real Keras fixture: the exact transform
between a file and its conversion, and the figures between two different models, checked
against h5py/numpy."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import fixture, run, tmpdir


def diff_json(a, b, expect, *extra):
    p = run("diff", *a, "--", *b, "--json", *extra)
    assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def rows(doc):
    return {(t["layer_a"], t["role"]): t for t in doc["tensors"]}


class Keras1Lstm(unittest.TestCase):
    def test_regrouping_to_keras2_is_named(self):
        d = tmpdir("diffrnn_k1k2")
        src = fixture("keras1/simple_lstm_th_model.h5")
        run("convert", src, "--to", "keras", "-o", d + "/k2.h5", check=0)
        # the conversion is what numpy makes of the 12 arrays: [i, f, c, o] concatenated
        with h5py.File(src, "r") as f:
            g = f["model_weights/lstm_1"]
            want = {"kernel": np.concatenate([g["lstm_1_W_" + x] for x in "ifco"], -1),
                    "recurrent_kernel": np.concatenate([g["lstm_1_U_" + x] for x in "ifco"], -1),
                    "bias": np.concatenate([g["lstm_1_b_" + x] for x in "ifco"], -1)}
        k2 = keras_weights(d + "/k2.h5")["lstm_1"]
        for got, role in zip(k2, ("kernel", "recurrent_kernel", "bias")):
            np.testing.assert_array_equal(got, want[role])
        doc = diff_json([src], [d + "/k2.h5"], 0)
        self.assertTrue(doc["equivalent"])
        r = rows(doc)
        for role in ("kernel", "recurrent_kernel", "bias"):
            t = r[("lstm_1", role)]
            self.assertEqual(t["verdict"], "transform", t)
            self.assertIn("gate regrouping", t["transform"])
            self.assertIn("Keras 1 per-gate", t["transform"])
            self.assertIn("4 in gate order i,c,f,o", t["transform"])
            self.assertIn("Keras fused", t["transform"])
            self.assertIn("%s (gates i,f,c,o)" % str(tuple(want[role].shape)), t["transform"])
        self.assertEqual(r[("dense_1", "kernel")]["verdict"], "identical")
        # the human form names it too, and says equivalent
        p = run("diff", src, "--", d + "/k2.h5", check=0)
        self.assertIn("gate regrouping: Keras 1 per-gate kernel arrays, 4 in gate order i,c,f,o", p.stdout)
        self.assertIn("equivalent", p.stdout.splitlines()[-1])

    def test_two_different_lstm_models_differ_with_figures(self):
        a, b = fixture("keras2/simple_lstm_tf_model.h5"), fixture("keras1/simple_lstm_th_model.h5")
        doc = diff_json([a], [b], 1)
        self.assertFalse(doc["equivalent"])
        wa = keras_weights(a)
        with h5py.File(b, "r") as f:
            g = f["model_weights"]
            wb_ = {"lstm_1": [np.concatenate([g["lstm_1"]["lstm_1_%s_%s" % (m, x)] for x in "ifco"], -1) for m in "WUb"],
                   "dense_1": [np.array(g["dense_1/dense_1_W"]), np.array(g["dense_1/dense_1_b"])]}
        r = rows(doc)
        self.assertEqual(len(doc["tensors"]), 5)
        for layer, roles in (("lstm_1", ("kernel", "recurrent_kernel", "bias")), ("dense_1", ("kernel", "bias"))):
            for i, role in enumerate(roles):
                t = r[(layer, role)]
                x, y = wa[layer][i].astype(np.float64), wb_[layer][i].astype(np.float64)
                self.assertEqual(t["verdict"], "different", t)
                diff = np.abs(x - y)
                self.assertAlmostEqual(t["max_abs"], diff.max(), places=6)
                mask = diff > 0
                rel = (diff[mask] / np.maximum(np.abs(x), np.abs(y))[mask]).max()
                self.assertAlmostEqual(t["max_rel"], rel, places=6)
        p = run("diff", a, "--", b)
        self.assertEqual(p.returncode, 1)
        t = r[("lstm_1", "kernel")]
        self.assertIn("max abs %.6g, max rel %.6g" % (t["max_abs"], t["max_rel"]), p.stdout)
        self.assertIn("NOT equivalent", p.stdout)


# Every real Keras fixture weightbridge converts to MXNet (with the option its case needs), and
# the transform diff must name for each tensor role, computed from the Keras layout rules.
REAL = [
    (["keras1/batch_to_conv2d_tf.h5"], []),
    (["keras1/k2c_mnist_cnn_th_weights.h5", "keras1/k2c_mnist_cnn_th_arch.json"], ["--kernel-flip", "yes"]),
    (["keras1/simple_lstm_th_model.h5"], ["--accept-sigmoid-for-hard-sigmoid"]),
    (["keras2/batch_to_conv2d_theano.h5"], []),
    (["keras2/cnn_batch_norm.h5"], []),
    (["keras2/mlp_adam_training_config.h5"], []),
    (["keras2/separable_conv2d.h5"], []),
    (["keras2/simple_lstm_tf_model.h5"], ["--accept-sigmoid-for-hard-sigmoid"]),
    (["keras3/flownet_mlp.keras"], []),
    (["tfkeras/conv2d_transpose.h5"], []),
    (["tfkeras/depthwise_conv2d.h5"], []),
    (["tfkeras/functional_embedding_conv1d.hdf5"], []),
    (["tfkeras/rnn_bidi_simplernn.h5"], []),
    (["tfkeras/lstm_weights_only.h5", "tfkeras/lstm_weights_only_model.json"], []),
    # exact conversions with per-step ops (hard_sigmoid gates, relu gates, a linear GRU), causal
    # padding, a fully convolutional model and Attention
    (["keras1/simple_lstm_th_model.h5"], []),
    (["keras2/simple_lstm_tf_model.h5"], []),
    (["keras2/bidi_lstm_fdeep.h5"], ["--input-shape", "input_3=6,4"]),
    (["tfkeras/gru_two_inputs.h5"], []),
    (["keras2/causal_conv1d_dilated_model.h5"], []),
    (["keras2/prelu_12net.h5"], ["--input-shape", "12,12,3"]),
    (["tfkeras/attention_optimizer_weights.h5"], []),
    (["tfkeras/convlstm2d_bidi.h5"], []),
]


def stored_by_name(path):
    """{weight name: array} of a Keras .h5, following each layer group's weight_names; {} for other containers."""
    out = {}
    if not path.endswith((".h5", ".hdf5")):
        return out
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        for layer in g.attrs.get("layer_names", []):
            lg = g[layer.decode() if isinstance(layer, bytes) else layer]
            for n in lg.attrs.get("weight_names", []):
                n = n.decode() if isinstance(n, bytes) else n
                out[n] = np.array(lg[n])
    return out


class RealFixturesToMxnet(unittest.TestCase):
    def test_each_tensor_names_its_transform(self):
        for files, opts in REAL:
            with self.subTest(files[0]):
                src = [fixture(f) for f in files]
                d = tmpdir("diffrnn_real_" + os.path.basename(files[0]) + "_%d" % len(opts))
                run("convert", *src, "--to", "mxnet", "-o", d + "/mx", *opts, check=0)
                flip = ["--kernel-flip-a", "yes"] if "--kernel-flip" in opts else []
                doc = diff_json(src, [d + "/mx-symbol.json", d + "/mx-0000.params"], 0, *flip)
                self.assertTrue(doc["equivalent"])
                self.assertTrue(doc["tensors"])
                stored, mx = stored_by_name(src[0]), ndarray_ref.load_dict(d + "/mx-0000.params")
                checked = 0
                theano = "theano" in files[0] or "_th_" in files[0] and "lstm" not in files[0]
                for t in doc["tensors"]:
                    self.assertIn(t["verdict"], ("identical", "transform"), t)
                    sa, sb = t["shape_a"], t["shape_b"]
                    layer_rnn = "gate regrouping" in t["transform"]
                    if t["role"].endswith(("kernel", "recurrent_kernel", "bias")) and t["name_b"].endswith("_parameters"):
                        # recurrent weights: a slice of MXNet's flat vector, never 'identical'
                        self.assertEqual(t["verdict"], "transform", t)
                        self.assertTrue(layer_rnn, t)
                        self.assertIn("MXNet fused RNN parameters", t["transform"])
                        if "recurrent" in t["role"]:
                            self.assertIn("W_h2h", t["transform"])
                        elif "bias" in t["role"]:
                            self.assertIn("b_i2h, b_h2h = 0", t["transform"])
                        else:
                            self.assertIn("W_i2h (%d, %d)" % (sa[1], sa[0]), t["transform"])
                        if "keras1" in files[0]:
                            self.assertIn("i,c,f,o", t["transform"])
                        continue
                    if t["name_b"].endswith(("_i2h_weight", "_h2h_weight", "_i2h_bias")):
                        # per-step ops: the MXNet variables keep Keras' gate order
                        if "keras1" in files[0]:  # from Keras 1's per-gate arrays: a regrouping
                            self.assertEqual(t["verdict"], "transform", t)
                            self.assertIn("gate regrouping: Keras 1 per-gate", t["transform"])
                            self.assertIn("MXNet per-step", t["transform"])
                            continue
                        self.assertEqual(t["verdict"], "transform" if "weight" in t["name_b"] else "identical", t)
                    if t["verdict"] == "identical":
                        self.assertEqual(sa, sb, t)  # same bytes, same shape
                        continue
                    tr = t["transform"]
                    if theano and len(sa) >= 3:
                        self.assertIn("flip", tr, t)
                    elif tr.startswith("transpose"):
                        perm = [int(x) for x in tr[len("transpose("):-1].split(",")]
                        self.assertEqual([sa[p] for p in perm], sb, t)  # numpy: transpose(a, perm).shape == b
                        if t["name_a"] in stored:  # and the values: np.transpose(a, perm) == b
                            np.testing.assert_array_equal(np.transpose(stored[t["name_a"]], perm), mx["arg:" + t["name_b"]])
                            checked += 1
                    else:
                        self.assertIn("reshape", tr, t)  # SeparableConv depthwise kernel
                if stored and any(t["transform"].startswith("transpose") for t in doc["tensors"]):
                    self.assertGreater(checked, 0, "no transposed tensor checked against numpy")
                if files[0] == "keras2/cnn_batch_norm.h5":
                    r = rows(doc)
                    self.assertEqual(r[("conv2d_1", "kernel")]["transform"], "transpose(3, 2, 0, 1)")


if __name__ == "__main__":
    unittest.main()
