"""Keras merge layers (Add, Multiply, Subtract, Average, Maximum, Minimum) and MXNet scalar ops:
run against numpy, converted with --verify both ways, round trips byte-exact."""
import json
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import run, tmpdir

RNG = np.random.default_rng(11)


def two_branch_model(path, merge):
    """Inputs a (3,) and b (3,) -> Dense(4) each -> merge -> Dense(2)."""
    w = {"da": (RNG.standard_normal((3, 4)), RNG.standard_normal(4)),
         "db": (RNG.standard_normal((3, 4)), RNG.standard_normal(4)),
         "out": (RNG.standard_normal((4, 2)), RNG.standard_normal(2))}
    layers = [
        {"name": "a", "class_name": "InputLayer", "config": {"name": "a", "batch_input_shape": [None, 3]}, "inbound_nodes": []},
        {"name": "b", "class_name": "InputLayer", "config": {"name": "b", "batch_input_shape": [None, 3]}, "inbound_nodes": []},
        {"name": "da", "class_name": "Dense", "config": {"name": "da", "units": 4, "activation": "tanh"}, "inbound_nodes": [[["a", 0, 0, {}]]]},
        {"name": "db", "class_name": "Dense", "config": {"name": "db", "units": 4, "activation": "linear"}, "inbound_nodes": [[["b", 0, 0, {}]]]},
        {"name": "m", "class_name": merge, "config": {"name": "m"}, "inbound_nodes": [[["da", 0, 0, {}], ["db", 0, 0, {}]]]},
        {"name": "out", "class_name": "Dense", "config": {"name": "out", "units": 2, "activation": "linear"}, "inbound_nodes": [[["m", 0, 0, {}]]]},
    ]
    cfg = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["a", 0, 0], ["b", 0, 0]],
                                             "output_layers": [["out", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(cfg).encode()
        g = f.create_group("model_weights")
        names = ["a", "b", "da", "db", "m", "out"]
        g.attrs["layer_names"] = [n.encode() for n in names]
        g.attrs["keras_version"] = b"2.2.4"
        g.attrs["backend"] = b"tensorflow"
        for n in names:
            lg = g.create_group(n)
            if n in w:
                lg.attrs["weight_names"] = [("%s/kernel:0" % n).encode(), ("%s/bias:0" % n).encode()]
                lg.create_dataset("%s/kernel:0" % n, data=w[n][0].astype(np.float32))
                lg.create_dataset("%s/bias:0" % n, data=w[n][1].astype(np.float32))
            else:
                lg.attrs["weight_names"] = np.zeros((0,), np.float64)
    return {k: (v[0].astype(np.float32).astype(np.float64), v[1].astype(np.float32).astype(np.float64)) for k, v in w.items()}


MERGES = {"Add": lambda x, y: x + y, "Multiply": lambda x, y: x * y, "Subtract": lambda x, y: x - y,
          "Average": lambda x, y: (x + y) / 2, "Maximum": np.maximum, "Minimum": np.minimum}


class Merge(unittest.TestCase):
    def test_merge_layers(self):
        xa = RNG.standard_normal((2, 3)).astype(np.float32)
        xb = RNG.standard_normal((2, 3)).astype(np.float32)
        for merge, fn in MERGES.items():
            with self.subTest(merge=merge):
                d = tmpdir("merge_" + merge)
                w = two_branch_model(d + "/k.h5", merge)
                np.save(d + "/a.npy", xa)
                np.save(d + "/b.npy", xb)
                run("run", d + "/k.h5", "--input", d + "/a.npy", "--input", d + "/b.npy", "-o", d + "/y.npy", check=0)
                ha = np.tanh(xa.astype(np.float64) @ w["da"][0] + w["da"][1])
                hb = xb.astype(np.float64) @ w["db"][0] + w["db"][1]
                want = fn(ha, hb) @ w["out"][0] + w["out"][1]
                np.testing.assert_allclose(np.load(d + "/y.npy"), want, atol=1e-5)
                run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
                run("run", d + "/m-symbol.json", d + "/m-0000.params", "--input", d + "/a.npy", "--input", d + "/b.npy",
                    "-o", d + "/ym.npy", check=0)
                np.testing.assert_allclose(np.load(d + "/ym.npy"), want, atol=1e-5)
                run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
                a, b = keras_weights(d + "/k.h5"), keras_weights(d + "/back.h5")
                for layer in ("da", "db", "out"):
                    self.assertEqual([x.tobytes() for x in a[layer]], [x.tobytes() for x in b[layer]])
                with h5py.File(d + "/back.h5", "r") as f:
                    classes = {l["class_name"] for l in json.loads(f.attrs["model_config"])["config"]["layers"]}
                self.assertIn(merge, classes)

    def test_mxnet_scalar_ops(self):
        d = tmpdir("merge_scalar")
        sym = {"nodes": [
            {"op": "null", "name": "data", "attrs": {"__shape__": "(0, 3)"}, "inputs": []},
            {"op": "_mul_scalar", "name": "scale", "attrs": {"scalar": "2.5"}, "inputs": [[0, 0, 0]]},
            {"op": "_minus_scalar", "name": "shift", "attrs": {"scalar": "0.75"}, "inputs": [[1, 0, 0]]},
            {"op": "_div_scalar", "name": "div", "attrs": {"scalar": "3"}, "inputs": [[2, 0, 0]]},
            {"op": "null", "name": "fc_weight", "inputs": []},
            {"op": "null", "name": "fc_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "2"}, "inputs": [[3, 0, 0], [4, 0, 0], [5, 0, 0]]}],
            "arg_nodes": [0, 4, 5], "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7], "heads": [[6, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10600]}}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        w, b = RNG.standard_normal((2, 3)).astype(np.float32), RNG.standard_normal(2).astype(np.float32)
        ndarray_ref.save(d + "/m-0000.params", [("arg:fc_weight", w), ("arg:fc_bias", b)])
        x = RNG.standard_normal((4, 3)).astype(np.float32)
        np.save(d + "/x.npy", x)
        run("run", d + "/m-symbol.json", d + "/m-0000.params", "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
        want = ((x.astype(np.float64) * 2.5 - 0.75) / 3) @ w.T.astype(np.float64) + b
        np.testing.assert_allclose(np.load(d + "/y.npy"), want, atol=1e-5)
        # division has no exact Keras layer: refused, never approximated
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("div", p.stderr)


if __name__ == "__main__":
    unittest.main()
