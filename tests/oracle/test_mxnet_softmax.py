"""MXNet's softmax family and the attributes that change what it computes (MXNet 1.x operator
docs): SoftmaxOutput normalises each instance over everything but the batch axis (a (N, C, H, W)
input is flattened to (N, C*H*W)), over axis 1 with multi_output=True and over the last axis with
preserve_shape=True; SoftmaxActivation mode='channel' is over axis 1. Expected values are numpy
softmaxes of a 1x1 Convolution computed here from the arrays written to the params file."""
import json
import os
import unittest

import numpy as np

import ndarray_ref
from wbtest import run, tmpdir


def softmax(z, axis):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def write_model(d, op, attrs):
    """data (2, 3, 4) -> Convolution 1x1, 3 filters -> op(attrs); returns the weight and bias."""
    rng = np.random.default_rng(5)
    w = rng.uniform(-1, 1, (3, 2, 1, 1)).astype(np.float32)
    b = rng.uniform(-1, 1, (3,)).astype(np.float32)
    nodes = [{"op": "null", "name": "data", "attrs": {"__shape__": "(1, 2, 3, 4)"}, "inputs": []},
             {"op": "null", "name": "c_weight", "inputs": []},
             {"op": "null", "name": "c_bias", "inputs": []},
             {"op": "Convolution", "name": "c", "attrs": {"kernel": "(1, 1)", "num_filter": "3"},
              "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}]
    if op == "SoftmaxOutput":
        nodes.append({"op": "null", "name": "label", "inputs": []})
        nodes.append({"op": op, "name": "sm", "attrs": attrs, "inputs": [[3, 0, 0], [4, 0, 0]]})
    else:
        nodes.append({"op": op, "name": "sm", "attrs": attrs, "inputs": [[3, 0, 0]]})
    args = [i for i, n in enumerate(nodes) if n["op"] == "null"]
    sym = {"nodes": nodes, "arg_nodes": args, "heads": [[len(nodes) - 1, 0, 0]], "attrs": {"mxnet_version": ["int", 10300]}}
    with open(d + "/m-symbol.json", "w") as f:
        json.dump(sym, f)
    ndarray_ref.save(d + "/m-0000.params", [("arg:c_weight", w), ("arg:c_bias", b)])
    return w, b


class MxnetSoftmax(unittest.TestCase):
    def run_model(self, d, x):
        np.save(d + "/x.npy", x)
        return run("run", d + "/m-symbol.json", d + "/m-0000.params", "--input", d + "/x.npy", "-o", d + "/y.npy")

    def test_axis_1_forms(self):
        x = np.random.default_rng(6).uniform(-2, 2, (2, 2, 3, 4)).astype(np.float32)
        for op, attrs in (("SoftmaxOutput", {"multi_output": "True"}), ("SoftmaxActivation", {"mode": "channel"}),
                          ("softmax", {"axis": "1"})):
            with self.subTest(op=op):
                d = tmpdir("mx_softmax_axis1")
                w, b = write_model(d, op, attrs)
                z = np.einsum("nchw,fc->nfhw", x.astype(np.float64), w[:, :, 0, 0]) + b[None, :, None, None]
                p = self.run_model(d, x)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                np.testing.assert_allclose(np.load(d + "/y.npy"), softmax(z, 1), atol=1e-6)

    def test_last_axis_with_preserve_shape(self):
        d = tmpdir("mx_softmax_preserve")
        x = np.random.default_rng(7).uniform(-2, 2, (2, 2, 3, 4)).astype(np.float32)
        w, b = write_model(d, "SoftmaxOutput", {"preserve_shape": "True"})
        z = np.einsum("nchw,fc->nfhw", x.astype(np.float64), w[:, :, 0, 0]) + b[None, :, None, None]
        p = self.run_model(d, x)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        np.testing.assert_allclose(np.load(d + "/y.npy"), softmax(z, -1), atol=1e-6)

    def test_forms_with_no_keras_softmax_are_refused(self):
        # instance softmax over a (C, H, W) map normalises all C*H*W values together; a temperature
        # divides the logits: neither is a Keras softmax over one axis
        for op, attrs, word in (("SoftmaxOutput", {}, "normalises all its values together"),
                                ("SoftmaxActivation", {}, "normalises all its values together"),
                                ("softmax", {"axis": "1", "temperature": "2.0"}, "temperature")):
            with self.subTest(op=op, attrs=attrs):
                d = tmpdir("mx_softmax_refused")
                write_model(d, op, attrs)
                p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5")
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                self.assertIn(word, p.stderr)
                self.assertFalse(os.path.exists(d + "/k.h5"))


if __name__ == "__main__":
    unittest.main()
