"""doctor on the two cases of the "fresh reader" trial (issue 5), rebuilt here: an MXNet 1.6 CNN whose
BatchNorm leaves fix_gamma at its default (True) over a stored gamma != 1, copied by hand into a
channels_first Keras model; and the real Keras 1 'th' weights-only file loaded by Keras 2
load_weights. Each finding is checked against the files as written here (numpy/h5py), the fixture's
shipped gold output, or by running the very command the finding gives as its fix."""
import json
import os
import re
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_doctor import dense_h5
from test_run_gold import K2C_GOLD, k2c_input
from wbtest import fixture, run, tmpdir

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
C, H, W, UNITS = 4, 8, 8, 5
GAMMA = [1.8, 0.4, 2.5, 0.7]


def doctor(*args, expect=None):
    p = run("doctor", *args, "--json")
    if expect is not None:
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def coded(doc, code):
    return [f for f in doc["findings"] if f["code"] == code]


def case_a(d, bn_attrs=None, gamma=GAMMA):
    """Case A: Convolution(3x3, 4 filters, pad 1) on (1, 3, 8, 8) -> BatchNorm -> relu -> Flatten ->
    FullyConnected(5) -> SoftmaxActivation, MXNet 1.6 symbol; BatchNorm attrs only {"eps": "1e-05"}."""
    bn_attrs = {"eps": "1e-05"} if bn_attrs is None else bn_attrs
    nodes = [
        {"op": "null", "name": "data", "attrs": {"__shape__": "(1, 3, %d, %d)" % (H, W)}, "inputs": []},
        {"op": "null", "name": "conv0_weight", "inputs": []},
        {"op": "null", "name": "conv0_bias", "inputs": []},
        {"op": "Convolution", "name": "conv0", "attrs": {"kernel": "(3, 3)", "num_filter": str(C), "pad": "(1, 1)"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "null", "name": "bn0_gamma", "inputs": []},
        {"op": "null", "name": "bn0_beta", "inputs": []},
        {"op": "null", "name": "bn0_moving_mean", "inputs": []},
        {"op": "null", "name": "bn0_moving_var", "inputs": []},
        {"op": "BatchNorm", "name": "bn0", "attrs": bn_attrs, "inputs": [[3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 1], [7, 0, 1]]},
        {"op": "Activation", "name": "relu0", "attrs": {"act_type": "relu"}, "inputs": [[8, 0, 0]]},
        {"op": "Flatten", "name": "flatten0", "inputs": [[9, 0, 0]]},
        {"op": "null", "name": "fc0_weight", "inputs": []},
        {"op": "null", "name": "fc0_bias", "inputs": []},
        {"op": "FullyConnected", "name": "fc0", "attrs": {"num_hidden": str(UNITS)}, "inputs": [[10, 0, 0], [11, 0, 0], [12, 0, 0]]},
        {"op": "SoftmaxActivation", "name": "softmax0", "inputs": [[13, 0, 0]]}]
    sym = {"nodes": nodes, "arg_nodes": [0, 1, 2, 4, 5, 6, 7, 11, 12], "node_row_ptr": list(range(len(nodes) + 1)),
           "heads": [[14, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}}
    with open(d + "/a-symbol.json", "w") as f:
        json.dump(sym, f)
    rng = np.random.default_rng(1)
    ndarray_ref.save(d + "/a-0000.params", [
        ("arg:conv0_weight", rng.standard_normal((C, 3, 3, 3))), ("arg:conv0_bias", rng.standard_normal(C)),
        ("arg:bn0_gamma", gamma), ("arg:bn0_beta", rng.standard_normal(C)),
        ("aux:bn0_moving_mean", rng.standard_normal(C)), ("aux:bn0_moving_var", rng.uniform(0.5, 2, C)),
        ("arg:fc0_weight", rng.standard_normal((UNITS, C * H * W))), ("arg:fc0_bias", rng.standard_normal(UNITS))])
    return [d + "/a-symbol.json", d + "/a-0000.params"]


def case_b():
    return [fixture("keras1/k2c_mnist_cnn_th_weights.h5"), fixture("keras1/k2c_mnist_cnn_th_arch.json")]


def keras_bn(path, epsilon):
    """Keras 2.2.4 Conv2D(2, 1x1) -> BatchNormalization(epsilon) with trained statistics."""
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [1, 1], "padding": "valid",
                                            "data_format": "channels_last", "batch_input_shape": [None, 4, 4, 3]}},
        {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "epsilon": epsilon}}]}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(cfg).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"conv", b"bn"]
        g.attrs["keras_version"] = b"2.2.4"
        g.attrs["backend"] = b"tensorflow"
        c = g.create_group("conv")
        c.attrs["weight_names"] = [b"conv/kernel:0", b"conv/bias:0"]
        c.create_dataset("conv/kernel:0", data=np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2) / 5)
        c.create_dataset("conv/bias:0", data=np.array([0.1, 0.2], np.float32))
        b = g.create_group("bn")
        names = ["gamma", "beta", "moving_mean", "moving_variance"]
        b.attrs["weight_names"] = [("bn/%s:0" % n).encode() for n in names]
        for n, v in zip(names, ([1.7, 0.4], [0.3, -0.2], [0.5, -0.1], [2.0, 0.3])):
            b.create_dataset("bn/%s:0" % n, data=np.array(v, np.float32))


def keras_config(path):
    with h5py.File(path, "r") as f:
        return {l["config"]["name"]: l for l in json.loads(f.attrs["model_config"])["config"]["layers"]}


class CaseA(unittest.TestCase):
    def test_fix_gamma_is_an_error_with_its_reason_and_both_fixes(self):
        d = tmpdir("doccase_a")
        files = case_a(d)
        doc = doctor(*files, expect=1)
        self.assertEqual(doc["target"], "keras")
        fg = coded(doc, "fix-gamma")
        self.assertEqual(len(fg), 1, doc)
        f = fg[0]
        self.assertEqual((f["severity"], f["kind"]), ("error", "batchnorm"))
        # the stored values, as written above, and why fix_gamma is true although the symbol does not say
        self.assertIn("[" + ", ".join("%g" % g for g in GAMMA) + "]", f["evidence"])
        self.assertIn("fix_gamma not set in the symbol: MXNet's BatchNorm default is True", f["evidence"])
        self.assertIn("--to keras", f["fix"])
        self.assertIn("BatchNormalization(scale=False)", f["fix"])
        self.assertIn("np.ones(%d)" % len(GAMMA), f["fix"])
        # the human header counts it as an error: the only one in this case
        out = run("doctor", *files).stdout
        self.assertTrue(out.startswith("doctor (target: keras): 1 error,"), out)
        self.assertLess(out.index("ERRORS"), out.index("[batchnorm/fix-gamma]"))
        # the fix as given: convert writes gamma = 1 and --verify passes
        cmd = f["fix"].split(" (")[0].split()
        cmd[cmd.index("-o") + 1] = d + "/fixed.h5"
        p = run(*cmd[1:])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with h5py.File(d + "/fixed.h5", "r") as h:
            gamma = np.array(h["model_weights/bn0/bn0/gamma:0"])
        np.testing.assert_array_equal(gamma, np.ones(len(GAMMA)))

    def test_fix_gamma_quoted_when_set_and_absent_when_false_or_ones(self):
        d = tmpdir("doccase_a_fg")
        f = coded(doctor(*case_a(d, {"eps": "1e-05", "fix_gamma": "True"})), "fix-gamma")
        self.assertEqual(len(f), 1)
        self.assertIn("fix_gamma='True' in the symbol", f[0]["evidence"])
        self.assertEqual(coded(doctor(*case_a(d, {"eps": "1e-05", "fix_gamma": "False"})), "fix-gamma"), [])
        self.assertEqual(coded(doctor(*case_a(d, gamma=[1.0] * C)), "fix-gamma"), [])

    def test_epsilon_differs_from_the_keras_default(self):
        d = tmpdir("doccase_a_eps")
        files = case_a(d)
        f = coded(doctor(*files), "epsilon")
        self.assertEqual(len(f), 1)
        self.assertEqual((f[0]["severity"], f[0]["kind"], f[0]["where"]), ("info", "batchnorm", "bn0"))
        self.assertIn("eps='1e-05' in the symbol", f[0]["evidence"])
        self.assertIn("default 1e-3", f[0]["message"])
        self.assertIn("BatchNormalization(epsilon=1e-05)", f[0]["fix"])
        # "convert writes it explicitly": the converted layer's config says 1e-05
        run("convert", *files, "--to", "keras", "-o", d + "/k.h5", check=0)
        self.assertAlmostEqual(keras_config(d + "/k.h5")["bn0"]["config"]["epsilon"], 1e-5, delta=1e-12)
        # the MXNet default (eps not set) and an explicit 0.001 equal Keras's default: no note
        self.assertEqual(coded(doctor(*case_a(d, {})), "epsilon"), [])
        self.assertEqual(coded(doctor(*case_a(d, {"eps": "0.001"})), "epsilon"), [])

    def test_epsilon_keras_source_to_mxnet(self):
        d = tmpdir("doccase_eps_keras")
        keras_bn(d + "/m.h5", 1.001e-5)
        doc = doctor(d + "/m.h5")
        self.assertEqual(doc["target"], "mxnet")
        f = coded(doc, "epsilon")
        self.assertEqual(len(f), 1)
        self.assertIn("epsilon 1.001e-05 in the layer config", f[0]["evidence"])
        self.assertIn("BatchNorm(eps=1.001e-05)", f[0]["fix"])
        run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", check=0)
        with open(d + "/mx-symbol.json") as f:
            bn = [n for n in json.load(f)["nodes"] if n["op"] == "BatchNorm"]
        self.assertAlmostEqual(float(bn[0]["attrs"]["eps"]), 1.001e-5, delta=1e-12)
        keras_bn(d + "/m3.h5", 0.001)
        self.assertEqual(coded(doctor(d + "/m3.h5"), "epsilon"), [])

    def test_flatten_order_for_a_keras_target(self):
        d = tmpdir("doccase_a_flat")
        files = case_a(d)
        f = coded(doctor(*files), "flatten-order")
        self.assertEqual(len(f), 1)
        f = f[0]
        self.assertEqual((f["severity"], f["kind"], f["where"]), ("warning", "layout", "flatten0"))
        self.assertIn("the layer before it, conv0, is channels_first", f["evidence"])
        self.assertNotIn("input layer", f["evidence"])
        self.assertNotIn("Flatten has no data_format", f["evidence"])
        self.assertIn("fc0 takes C*H*W = %d inputs" % (C * H * W), f["evidence"])
        self.assertIn("by hand", f["message"])
        # both layouts and the Keras rule (formats-keras.md 10.4): channels_first Flatten -> (H, W, C)
        self.assertIn("channels_first model", f["fix"])
        self.assertIn("channels_last model", f["fix"])
        self.assertIn("data_format='channels_first' (set, or unset with image_data_format 'channels_first')", f["evidence"])
        # the permutation given is numpy's (C, H, W) -> (H, W, C) flatten order
        lhs, rhs = re.search(r"new\[([^\]]+)\] = old\[([^\]]+)\]", f["fix"]).groups()
        x = np.random.default_rng(3).standard_normal((C, H, W))
        old, new = x.ravel(), np.zeros(C * H * W)
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    env = {"c": c, "h": h, "w": w, "C": C, "H": H, "W": W}
                    new[eval(lhs, {}, env)] = old[eval(rhs, {}, env)]
        np.testing.assert_array_equal(new, x.transpose(1, 2, 0).ravel())
        # what convert is said to write keeps (C, H, W): Flatten(data_format='channels_last') after channels_first layers
        run("convert", *files, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        cfg = keras_config(d + "/k.h5")
        self.assertEqual(cfg["conv0"]["config"]["data_format"], "channels_first")
        self.assertEqual(cfg["flatten0"]["config"]["data_format"], "channels_last")
        # MXNet to MXNet: the same Flatten on both sides, nothing to say
        self.assertEqual(coded(doctor(*files, "--to", "mxnet"), "flatten-order"), [])

    def test_flatten_order_keras1_source(self):
        f = coded(doctor(*case_b()), "flatten-order")
        self.assertEqual([x["severity"] for x in f], ["warning"])
        self.assertIn("the layer before it, maxpooling2d_1, is channels_first", f[0]["evidence"])
        self.assertIn("load_weights", f[0]["message"])
        with h5py.File(case_b()[0], "r") as h:
            rows = h["dense_1/dense_1_W"].shape[0]
        self.assertIn("dense_1 takes C*H*W = %d inputs" % rows, f[0]["evidence"])
        # going to MXNet, whose Flatten is also (C, H, W): a note only
        f = coded(doctor(*case_b(), "--to", "mxnet"), "flatten-order")
        self.assertEqual([x["severity"] for x in f], ["info"])
        self.assertIn("carry over unchanged", f[0]["message"])


class CaseB(unittest.TestCase):
    def test_weights_only_without_arch_names_the_target(self):
        src = fixture("keras1/k2c_mnist_cnn_th_weights.h5")
        doc = doctor(src, expect=1)
        self.assertEqual(doc["target"], "keras")
        self.assertEqual(len(coded(doc, "no-architecture")), 1)
        self.assertTrue(run("doctor", src).stdout.startswith("doctor (target: keras): "))

    def test_keras1_source_defaults_to_keras_and_keras2_to_mxnet(self):
        self.assertEqual(doctor(*case_b())["target"], "keras")
        self.assertEqual(doctor(fixture("keras1/simple_lstm_th_model.h5"))["target"], "keras")
        d = tmpdir("doccase_default")
        dense_h5(d + "/k2.h5")
        self.assertEqual(doctor(d + "/k2.h5")["target"], "mxnet")

    def test_kernel_flip_evidence_and_the_confirmation_it_suggests(self):
        files = case_b()
        with h5py.File(files[0], "r") as h:  # what the evidence claims about the file
            self.assertNotIn("backend", h.attrs)
            names = [n.decode() for n in h["convolution2d_1"].attrs["weight_names"]]
        self.assertFalse(any(n.endswith(":0") for n in names))
        with open(files[1]) as a:
            self.assertEqual(json.load(a)["config"][0]["config"]["dim_ordering"], "th")
        doc = doctor(*files, expect=1)
        amb = coded(doc, "kernel-flip")
        self.assertEqual(len(amb), 1)
        f = amb[0]
        self.assertEqual((f["severity"], f["kind"]), ("error", "ambiguity"))
        for said in ("no ':0' suffix", "TensorFlow did not write the file", "'th' ordering", "Theano (kernels must be flipped)",
                     "dmlc/keras on MXNet (no flip)", "--kernel-flip yes is most likely", "backend='theano'", names[0]):
            self.assertIn(said, f["evidence"])
        self.assertIn("--to keras", f["fix"])
        # the confirmation run, exactly as given: with --kernel-flip yes it reproduces the fixture's gold
        # prediction (recomputed with numpy by its provenance), with no it does not
        d = tmpdir("doccase_b")
        np.save(d + "/x.npy", k2c_input())
        cmd = re.search(r"(weightbridge run .*? -o y\.npy)", f["fix"]).group(1).split()
        cmd = [d + "/x.npy" if a == "x.npy" else d + "/y.npy" if a == "y.npy" else a for a in cmd]
        run(*cmd[1:], check=0)
        np.testing.assert_allclose(np.load(d + "/y.npy")[0], K2C_GOLD, rtol=0, atol=1e-5)
        run(*[("no" if a == "yes" else a) for a in cmd[1:]], check=0)
        self.assertGreater(np.abs(np.load(d + "/y.npy")[0] - K2C_GOLD).max(), 1e-3)
        # the convert it gives writes a Keras 2 file that passes --verify
        conv = re.search(r"(weightbridge convert .*? --verify)", f["fix"]).group(1).split()
        conv[conv.index("-o") + 1] = d + "/fixed.h5"
        p = run(*conv[1:])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        # towards MXNet the fix converts to MXNet
        self.assertIn("--to mxnet", coded(doctor(*files, "--to", "mxnet"), "kernel-flip")[0]["fix"])
        # every other finding's convert carries the flag too: each runs as given
        others = [x["fix"] for x in doc["findings"] if x is not f and "weightbridge convert" in x["fix"]]
        self.assertTrue(others)
        for fix in others:
            conv = re.search(r"(weightbridge convert .*? --verify)", fix).group(1).split()
            self.assertIn("--kernel-flip", conv)
            conv[conv.index("-o") + 1] = d + "/other.h5"
            p = run(*conv[1:])
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("verify: PASS", p.stdout)


class Codes(unittest.TestCase):
    def test_every_finding_has_a_documented_code_and_fixes_name_the_target(self):
        d = tmpdir("doccase_codes")
        dense_h5(d + "/zero.h5", kernel=np.zeros((2, 1), np.float32))
        dense_h5(d + "/nan.h5", kernel=np.array([[np.nan], [1.0]], np.float32))
        dense_h5(d + "/f64.h5", dtype=np.float64)
        dense_h5(d + "/meta.h5", version=b"2.2.4.3")
        keras_bn(d + "/eps.h5", 1.001e-5)
        runs = [case_a(d), case_b(), [fixture("keras1/k2c_mnist_cnn_th_weights.h5")], [d + "/zero.h5"], [d + "/nan.h5"],
                [d + "/f64.h5"], [d + "/meta.h5"], [d + "/eps.h5"], [fixture("keras2/batch_to_conv2d_theano.h5")],
                [fixture("keras1/simple_lstm_th_model.h5")],
                [fixture("keras2/cnn_batch_norm.h5"), "--into", fixture("keras2/mlp_adam_training_config.h5")]]
        with open(README) as f:
            readme = f.read()
        seen = set()
        for args in runs:
            for to in ([], ["--to", "keras"], ["--to", "keras3"], ["--to", "mxnet"]):
                doc = doctor(*args, *to)
                for f in doc["findings"]:
                    self.assertTrue(f["code"], f)
                    seen.add(f["kind"] + "/" + f["code"])
                    self.assertIn("`%s/%s`" % (f["kind"], f["code"]), readme, f)
                    for cmd in re.findall(r"weightbridge convert .*?--verify", f["fix"]):
                        want = "--to mxnet" if doc["target"] == "mxnet" and f["code"] != "attrs-dialect" else "--to keras"
                        self.assertIn(want, cmd, (doc["target"], f))
        # the runs above meet these kinds of finding
        for code in ("batchnorm/fix-gamma", "batchnorm/epsilon", "layout/flatten-order", "ambiguity/kernel-flip",
                     "weights/all-zero", "weights/non-finite", "dtype/float64", "metadata/version-backend",
                     "metadata/no-keras-version", "metadata/no-architecture", "layout/theano-kernels", "rnn/gate-order",
                     "weights/extra", "weights/missing"):
            self.assertIn(code, seen)


if __name__ == "__main__":
    unittest.main()
