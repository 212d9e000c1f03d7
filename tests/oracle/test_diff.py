"""diff: tensors matched through the graph and classified, checked on real files and on
mutations made here with numpy."""
import json
import unittest

import numpy as np

import ndarray_ref
from wbtest import fixture, run, tmpdir


def diff_json(a, b, expect):
    p = run("diff", *a, "--", *b, "--json")
    assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def rewrite_params(src, dst, change):
    """Copies a V2 params file, letting change(name, array) return a replacement array."""
    names, arrays, _ = ndarray_ref.load(src)
    ndarray_ref.save(dst, [(n, change(n, a.copy())) for n, a in zip(names, arrays)])


class Diff(unittest.TestCase):
    def converted(self, name, *extra):
        d = tmpdir(name)
        src = fixture("keras2/cnn_batch_norm.h5")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", *extra, check=0)
        return d, src

    def test_names_the_layout_transform(self):
        d, src = self.converted("diff_layout")
        doc = diff_json([src], [d + "/m-symbol.json", d + "/m-0000.params"], 0)
        rows = {(t["layer_a"], t["role"]): t for t in doc["tensors"]}
        self.assertEqual(rows[("conv2d_1", "kernel")]["verdict"], "transform")
        self.assertEqual(rows[("conv2d_1", "kernel")]["transform"], "transpose(3, 2, 0, 1)")  # (kh,kw,in,out) -> (out,in,kh,kw)
        self.assertEqual(rows[("conv2d_2", "kernel")]["transform"], "transpose(3, 2, 0, 1)")
        self.assertEqual(rows[("dense_1", "kernel")]["transform"], "transpose(1, 0)")
        self.assertEqual(rows[("dense_1", "bias")]["verdict"], "identical")
        self.assertEqual(len(doc["tensors"]), 10)
        self.assertTrue(doc["equivalent"])

    def test_gluon_to_keras(self):
        d = tmpdir("diff_gluon")
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        run("convert", sym, par, "--to", "keras", "-o", d + "/k.h5", check=0)
        doc = diff_json([sym, par], [d + "/k.h5"], 0)
        weights = [t for t in doc["tensors"] if t["role"] == "kernel"]
        self.assertEqual(len(weights), 3)
        self.assertTrue(all(t["transform"] == "transpose(1, 0)" for t in weights))

    def test_changed_value_is_reported_with_figures(self):
        d, src = self.converted("diff_mut")

        def bump(name, a):
            if name == "arg:dense_1_weight":
                a.reshape(-1)[5] += 0.125
            if name == "arg:conv2d_1_weight":
                a[:] = 0
            return a
        rewrite_params(d + "/m-0000.params", d + "/bad-0000.params", bump)
        doc = diff_json([src], [d + "/m-symbol.json", d + "/bad-0000.params"], 1)
        rows = {(t["layer_a"], t["role"]): t for t in doc["tensors"]}
        dense = rows[("dense_1", "kernel")]
        self.assertEqual(dense["verdict"], "different")
        self.assertAlmostEqual(dense["max_abs"], 0.125, places=6)
        bias = rows[("conv2d_1", "kernel")]
        self.assertEqual(bias["verdict"], "different")
        self.assertIn("b is all zeros", bias["notes"])
        self.assertFalse(doc["equivalent"])

    def test_dtype_cast_is_named_with_rounding_error(self):
        d, src = self.converted("diff_cast", "--dtype", "float16")
        doc = diff_json([src], [d + "/m-symbol.json", d + "/m-0000.params"], 0)
        dense = [t for t in doc["tensors"] if t["layer_a"] == "dense_1" and t["role"] == "kernel"][0]
        self.assertIn("cast float32->float16", dense["transform"])
        self.assertLessEqual(dense["max_rel"], 2 ** -11)

    def test_theano_kernel_flip_is_named(self):
        d = tmpdir("diff_theano")
        src = fixture("keras2/batch_to_conv2d_theano.h5")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", check=0)
        doc = diff_json([src], [d + "/m-symbol.json", d + "/m-0000.params"], 0)
        conv = [t for t in doc["tensors"] if t["role"] == "kernel" and t["layer_a"].startswith("conv")][0]
        self.assertIn("flip", conv["transform"])

    def test_unmatched_tensors_listed(self):
        d = tmpdir("diff_unmatched")
        a = fixture("keras2/mlp_adam_training_config.h5")
        b = fixture("keras2/cnn_batch_norm.h5")
        doc = diff_json([a], [b], 1)
        verdicts = {t["verdict"] for t in doc["tensors"]}
        self.assertTrue(verdicts & {"only-a", "only-b", "different"})


if __name__ == "__main__":
    unittest.main()
