"""verify: converted models agree; a mutated weight makes verify fail and name the layer."""
import unittest

import numpy as np

from test_diff import rewrite_params
from wbtest import fixture, run, tmpdir, write_sequential


class Verify(unittest.TestCase):
    def converted(self, name):
        d = tmpdir(name)
        src = fixture("keras2/cnn_batch_norm.h5")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", check=0)
        return d, src

    def verify_mutated(self, name, mutate):
        d, src = self.converted(name)
        rewrite_params(d + "/m-0000.params", d + "/bad-0000.params", mutate)
        p = run("verify", src, "--against", d + "/m-symbol.json", d + "/bad-0000.params")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("verify: FAIL", p.stdout)
        return p.stdout

    def test_unmutated_conversion_passes_with_given_input(self):
        d, src = self.converted("verify_ok")
        p = run("verify", src, "--against", d + "/m-symbol.json", d + "/m-0000.params",
                "--input", fixture("keras2/cnn_batch_norm_input.npy"), check=0)
        self.assertIn("verify: PASS", p.stdout)
        self.assertIn("shape (5, 1)", p.stdout)

    def test_permuted_dense_rows_fail_and_name_the_layer(self):
        def mutate(name, a):
            if name == "arg:dense_1_weight":  # MXNet (out, in): Keras kernel rows are the columns here
                a = a[:, ::-1].copy()
            return a
        out = self.verify_mutated("verify_dense", mutate)
        self.assertIn("first divergence: layer 'dense_1'", out)

    def test_transposed_square_conv_kernel_fails_and_names_the_layer(self):
        def mutate(name, a):
            if name == "arg:conv2d_1_weight":  # (out, in, 3, 3): swap the spatial axes
                a = a.transpose(0, 1, 3, 2).copy()
            return a
        out = self.verify_mutated("verify_conv", mutate)
        self.assertIn("first divergence: layer 'conv2d_1'", out)

    def test_output_shapes_that_differ_are_named(self):
        # Two models on one (5,) input with 3 and 2 outputs: the comparison names both shapes.
        d = tmpdir("verify_shapes")
        rs = np.random.RandomState(3)
        for name, units in (("a", 3), ("b", 2)):
            write_sequential("%s/%s.h5" % (d, name), (5,), [("Dense", {"units": units, "activation": "linear", "use_bias": True},
                                                              [("kernel", rs.randn(5, units)), ("bias", rs.randn(units))])])
        p = run("verify", d + "/a.h5", "--against", d + "/b.h5")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("shapes differ, (2, 3) vs (2, 2)", p.stdout)
        self.assertIn("verify: FAIL", p.stdout)

    def test_tolerance_and_exit_codes(self):
        d, src = self.converted("verify_tol")

        def nudge(name, a):
            if name == "arg:dense_1_bias":
                a = a + np.float32(1e-3)
            return a
        rewrite_params(d + "/m-0000.params", d + "/n-0000.params", nudge)
        p = run("verify", src, "--against", d + "/m-symbol.json", d + "/n-0000.params")
        self.assertEqual(p.returncode, 1)
        self.assertIn("max abs error 0.001", p.stdout)
        run("verify", src, "--against", d + "/m-symbol.json", d + "/n-0000.params", "--atol", "2e-3", check=0)

    def test_seeded_random_input_is_reproducible(self):
        # smilecnn is channels_first (1, 32, 32); its Keras conversion keeps that layout, so verify
        # feeds both the same array; the random input is reproducible by seed.
        d = tmpdir("verify_smile")
        sym = fixture("mxnet-module/smilecnn_kerasmxnet-symbol.json")
        par = fixture("mxnet-module/smilecnn_kerasmxnet-0000.params")
        run("convert", sym, par, "--to", "keras", "-o", d + "/k.h5", check=0)
        a = run("verify", sym, par, "--against", d + "/k.h5", "--seed", "7", check=0).stdout
        b = run("verify", sym, par, "--against", d + "/k.h5", "--seed", "7", check=0).stdout
        self.assertEqual(a, b)
        self.assertIn("shape (2, 1, 32, 32)", a)


if __name__ == "__main__":
    unittest.main()
