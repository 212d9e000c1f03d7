"""Failure cases from docs/failure-cases.md that concern reading and converting (the expected
values are the cases' own). Files are built here with h5py / by hand as each case describes."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import run, tmpdir

write_params = ndarray_ref.save

KERNEL = np.array([[0.5], [-1.0]], np.float32)
BIAS = np.array([0.25], np.float32)
X = np.array([[2.0, 4.0]], np.float32)
DENSE_CONFIG = {"class_name": "Sequential", "config": [
    {"class_name": "Dense", "config": {"name": "dense_1", "units": 1, "activation": "linear", "use_bias": True,
                                       "batch_input_shape": [None, 2]}}]}


def mx_dense_output(prefix, layer="dense_1"):
    p = ndarray_ref.load_dict(prefix + "-0000.params")
    return float((X @ p["arg:%s_weight" % layer].T + p["arg:%s_bias" % layer])[0, 0]), p


def write_dense_group(g, layer, names, paths):
    lg = g.require_group(layer)
    lg.attrs["weight_names"] = [n.encode() for n in names]
    lg.create_dataset(paths[0], data=KERNEL)
    lg.create_dataset(paths[1], data=BIAS)


class BR23LayoutVariants(unittest.TestCase):
    def test_three_layouts_same_params(self):
        d = tmpdir("br23")
        with open(d + "/arch.json", "w") as f:
            json.dump(DENSE_CONFIG, f)
        with h5py.File(d + "/a.h5", "w") as f:  # (a) weights only
            f.attrs["layer_names"] = [b"dense_1"]
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.2.4"
            write_dense_group(f, "dense_1", ["dense_1/kernel:0", "dense_1/bias:0"],
                              ["dense_1/kernel:0", "dense_1/bias:0"])
        with h5py.File(d + "/b.h5", "w") as f:  # (b) full model with optimizer state
            f.attrs["model_config"] = json.dumps(DENSE_CONFIG).encode()
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["training_config"] = b'{"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {}}}'
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense_1"]
            g.attrs["backend"] = b"tensorflow"
            g.attrs["keras_version"] = b"2.2.4"
            write_dense_group(g, "dense_1", ["dense_1/kernel:0", "dense_1/bias:0"],
                              ["dense_1/kernel:0", "dense_1/bias:0"])
            o = f.create_group("optimizer_weights")
            o.attrs["weight_names"] = [b"Adam/iterations:0", b"training/Adam/Variable:0"]
            o.create_dataset("Adam/iterations:0", data=np.int64(7))
            o.create_dataset("training/Adam/Variable:0", data=np.ones((2, 1), np.float32))
        with h5py.File(d + "/c.h5", "w") as f:  # (c) Keras 0.x
            f.attrs["nb_layers"] = 1
            g = f.create_group("layer_0")
            g.attrs["nb_params"] = 2
            g.create_dataset("param_0", data=KERNEL)
            g.create_dataset("param_1", data=BIAS)
        run("convert", d + "/a.h5", "--arch", d + "/arch.json", "--to", "mxnet", "-o", d + "/a", "--verify", check=0)
        run("convert", d + "/b.h5", "--to", "mxnet", "-o", d + "/b", "--verify", check=0)
        ya, pa = mx_dense_output(d + "/a")
        yb, pb = mx_dense_output(d + "/b")
        self.assertAlmostEqual(ya, -2.75, places=6)
        self.assertAlmostEqual(yb, -2.75, places=6)
        self.assertEqual(sorted(pa), sorted(pb))  # optimizer state ignored
        # Keras 0.x: positional groups, converted with the architecture
        doc = json.loads(run("inspect", "--json", d + "/c.h5", check=0).stdout)["files"][0]
        self.assertEqual(doc["layout"], "keras0")
        run("convert", d + "/c.h5", "--arch", d + "/arch.json", "--to", "mxnet", "-o", d + "/c", "--verify", check=0)
        yc, pc = mx_dense_output(d + "/c")
        self.assertAlmostEqual(yc, -2.75, places=6)
        for k in pa:
            self.assertEqual(pa[k].tobytes(), pc[k].tobytes())


class BR15Keras2VsKeras3Names(unittest.TestCase):
    def build(self, path, version, names, paths, top_level=False):
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = version.encode()
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(
                {"class_name": "Sequential", "config": {"name": "s", "layers": [
                    {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [None, 2]}},
                    {"class_name": "Dense", "config": {"name": "dense", "units": 1, "use_bias": True}}]}}).encode()
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense"]
            g.attrs["keras_version"] = version.encode()
            g.attrs["backend"] = b"tensorflow"
            write_dense_group(g, "dense", names, paths)
            if top_level:
                t = g.create_group("top_level_model_weights")
                t.attrs["weight_names"] = np.zeros((0,), np.float64)

    def test_same_params_from_both_generations(self):
        d = tmpdir("br15")
        self.build(d + "/k2.h5", "2.15.0", ["dense/kernel:0", "dense/bias:0"], ["dense/kernel:0", "dense/bias:0"])
        self.build(d + "/k3.h5", "3.3.3", ["kernel", "bias"], ["kernel", "bias"], top_level=True)
        run("convert", d + "/k2.h5", "--to", "mxnet", "-o", d + "/a", "--verify", check=0)
        run("convert", d + "/k3.h5", "--to", "mxnet", "-o", d + "/b", "--verify", check=0)
        ya, pa = mx_dense_output(d + "/a", "dense")
        yb, pb = mx_dense_output(d + "/b", "dense")
        self.assertAlmostEqual(ya, -2.75, places=6)
        for k in pa:
            self.assertEqual(pa[k].tobytes(), pb[k].tobytes())

    def test_duplicate_short_names_refused(self):
        d = tmpdir("br15dup")
        with h5py.File(d + "/dup.h5", "w") as f:
            f.attrs["layer_names"] = [b"block"]
            f.attrs["keras_version"] = b"3.3.3"
            f.attrs["backend"] = b"tensorflow"
            g = f.create_group("block")
            g.attrs["weight_names"] = [b"kernel", b"kernel"]
            g.create_dataset("kernel", data=KERNEL)
        p = run("inspect", d + "/dup.h5")
        self.assertEqual(p.returncode, 3)
        self.assertIn("duplicate weight names", p.stderr)
        self.assertIn("block", p.stderr)


class BR28OfflineExport(unittest.TestCase):
    def test_no_training_config_and_with_optimizer(self):
        d = tmpdir("br28")
        for name, opt in (("plain", False), ("opt", True)):
            with h5py.File(d + "/%s.h5" % name, "w") as f:
                f.attrs["keras_version"] = b"2.2.4"
                f.attrs["backend"] = b"mxnet"
                f.attrs["model_config"] = json.dumps(DENSE_CONFIG).encode()
                g = f.create_group("model_weights")
                g.attrs["layer_names"] = [b"dense_1"]
                g.attrs["keras_version"] = b"2.2.4"
                g.attrs["backend"] = b"mxnet"
                write_dense_group(g, "dense_1", ["dense_1/kernel1", "dense_1/bias1"], ["dense_1/kernel1", "dense_1/bias1"])
                if opt:
                    o = f.create_group("optimizer_weights")
                    o.attrs["weight_names"] = [b"Adam/iterations:0", b"m_0", b"v_0"]
                    o.create_dataset("Adam/iterations:0", data=np.int64(3))
                    o.create_dataset("m_0", data=np.zeros((2, 1), np.float32))
                    o.create_dataset("v_0", data=np.zeros((2, 1), np.float32))
            run("convert", d + "/%s.h5" % name, "--to", "mxnet", "-o", d + "/" + name, "--verify", check=0)
            y, p = mx_dense_output(d + "/" + name)
            self.assertAlmostEqual(y, -2.75, places=6)
            self.assertEqual(sorted(p), ["arg:dense_1_bias", "arg:dense_1_weight"])
            sym = json.load(open(d + "/%s-symbol.json" % name))
            data = [n for n in sym["nodes"] if n["name"] == "data"][0]
            self.assertEqual(data["attrs"]["__shape__"], "(0, 2)")  # free batch size


SYM_1X = {"nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "bn0_gamma", "inputs": []},
    {"op": "null", "name": "bn0_beta", "inputs": []},
    {"op": "null", "name": "bn0_moving_mean", "inputs": []},
    {"op": "null", "name": "bn0_moving_var", "inputs": []},
    {"op": "BatchNorm", "name": "bn0", "attrs": {"fix_gamma": "True", "eps": "0.001", "axis": "1",
                                                 "use_global_stats": "False"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 1], [4, 0, 1]]}],
    "arg_nodes": [0, 1, 2, 3, 4], "node_row_ptr": [0, 1, 2, 3, 4, 5, 8], "heads": [[5, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10600]}}


class BR11FixGamma(unittest.TestCase):
    def test_stored_gamma_replaced_by_one(self):
        d = tmpdir("br11")
        sym = json.loads(json.dumps(SYM_1X))
        sym["nodes"][0]["attrs"] = {"__shape__": "(1, 2, 1, 1)"}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        write_params(d + "/m-0000.params", [("arg:bn0_gamma", [2.0, 0.5]), ("arg:bn0_beta", [0.1, -0.1]),
                                            ("aux:bn0_moving_mean", [1.0, -1.0]), ("aux:bn0_moving_var", [4.0, 0.25])])
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        self.assertIn("fix_gamma", p.stdout)  # the override is reported
        gamma, beta, mean, var = keras_weights(d + "/k.h5")["bn0"]
        np.testing.assert_array_equal(gamma, [1.0, 1.0])
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        bn = [l for l in cfg["config"]["layers"] if l["class_name"] == "BatchNormalization"][0]["config"]
        self.assertEqual(bn["epsilon"], 0.001)
        self.assertEqual(bn["axis"], 1)
        # the case's expected inference output, computed from what was written
        x = np.array([3.0, 0.0])
        y = (x - mean) / np.sqrt(var + bn["epsilon"]) * gamma + beta
        np.testing.assert_allclose(y, [1.099875, 1.896012], atol=1e-5)


class BR16SymbolDialects(unittest.TestCase):
    def test_three_dialects_convert_identically(self):
        d = tmpdir("br16")
        modern = {"nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "fc1_weight", "inputs": []},
            {"op": "null", "name": "fc1_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "2"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
            {"op": "null", "name": "softmax_label", "inputs": []},
            {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}],
            "arg_nodes": [0, 1, 2, 4], "node_row_ptr": [0, 1, 2, 3, 4, 5, 6], "heads": [[5, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10600]}}
        attr = json.loads(json.dumps(modern))
        for n in attr["nodes"]:
            if "attrs" in n:
                n["attr"] = n.pop("attrs")
        attr["attrs"]["mxnet_version"] = ["int", 1100]
        legacy = {"nodes": [], "arg_nodes": [0, 1, 2, 4], "heads": [[5, 0]]}
        for n in modern["nodes"]:
            m = {"op": n["op"], "param": n.get("attrs", {}), "name": n["name"],
                 "inputs": [e[:2] for e in n["inputs"]], "backward_source_id": -1}
            legacy["nodes"].append(m)
        w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
        outs = []
        for name, sym in (("modern", modern), ("attr", attr), ("legacy", legacy)):
            json.dump(sym, open(d + "/%s-symbol.json" % name, "w"))
            write_params(d + "/%s-0000.params" % name, [("arg:fc1_weight", w), ("arg:fc1_bias", [0.5, -0.5])])
            run("convert", d + "/%s-symbol.json" % name, d + "/%s-0000.params" % name, "--to", "keras",
                "--input-shape", "3", "-o", d + "/%s.h5" % name, check=0)
            outs.append(keras_weights(d + "/%s.h5" % name)["fc1"])
        for o in outs:
            np.testing.assert_array_equal(o[0], w.T)
            np.testing.assert_array_equal(o[1], [0.5, -0.5])

    def test_unknown_node_key_named(self):
        d = tmpdir("br16bad")
        sym = {"nodes": [{"op": "null", "name": "data", "inputs": [], "foo": 1}], "arg_nodes": [0], "heads": [[0, 0, 0]]}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        p = run("inspect", d + "/m-symbol.json")
        self.assertEqual(p.returncode, 3)
        self.assertIn("foo", p.stderr)
        self.assertIn("m-symbol.json", p.stderr)


if __name__ == "__main__":
    unittest.main()


class BR17GluonNaming(unittest.TestCase):
    SYM = {"nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "mlp0_dense0_weight", "attrs": {"__shape__": "(1, 2)"}, "inputs": []},
        {"op": "null", "name": "mlp0_dense0_bias", "attrs": {"__shape__": "(1,)"}, "inputs": []},
        {"op": "FullyConnected", "name": "mlp0_dense0_fwd", "attrs": {"num_hidden": "1", "flatten": "True"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
        "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10600]}}

    def test_all_naming_schemes_give_the_same_layer(self):
        d = tmpdir("br17")
        json.dump(self.SYM, open(d + "/m-symbol.json", "w"))
        w, b = [[0.5, -1.0]], [0.25]
        schemes = {"p1": ("arg:mlp0_dense0_weight", "arg:mlp0_dense0_bias"), "p2": ("mlp0_dense0_weight", "mlp0_dense0_bias"),
                   "p2s": ("dense0_weight", "dense0_bias"), "p3": ("layer.weight", "layer.bias"),
                   "p4": ("mlp1_dense0_weight", "mlp1_dense0_bias")}
        for name, (kw, kb) in schemes.items():
            with self.subTest(scheme=name):
                write_params(d + "/%s.params" % name, [(kw, w), (kb, b)])
                p = run("convert", d + "/m-symbol.json", d + "/%s.params" % name, "--input-shape", "2",
                        "--to", "keras", "-o", d + "/%s.h5" % name, check=0)
                kernel, bias = keras_weights(d + "/%s.h5" % name)["mlp0_dense0"]
                self.assertAlmostEqual(float((X @ kernel + bias)[0, 0]), -2.75, places=6)
                if name in ("p3", "p4"):
                    self.assertIn("by graph position", p.stdout)
        # writing for MXNet: keys are arg: + the symbol's variable names, one per variable
        run("convert", d + "/p3.h5", "--to", "mxnet", "-o", d + "/back", "--verify", check=0)
        sym = json.load(open(d + "/back-symbol.json"))
        params = ndarray_ref.load_dict(d + "/back-0000.params")
        variables = {n["name"] for n in sym["nodes"] if n["op"] == "null" and n["name"] != "data"}
        self.assertEqual({k[4:] for k in params}, variables)
