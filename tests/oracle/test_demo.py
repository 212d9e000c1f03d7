"""`weightbridge demo` (the README's set-up command 1): its files checked with h5py and the
independent NDArray reader, and the MXNet model it writes run on an input whose prediction is
computed here in numpy from the keras-mxnet source's own arrays (MXNet-order kernels, formats-keras.md
section 7), not by the code under test."""
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from wbtest import run, tmpdir


def conv_same_nchw(x, w, b):
    """x (N, C, H, W), w (F, C, 3, 3) cross-correlation, stride 1, 'same' padding of 1."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, f, h, wd), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,fc->nfhw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return y + b[None, :, None, None]


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tmpdir("demo")
        cls.p = run("demo", cls.d, check=0)

    def test_reports_forward_pass_and_round_trip(self):
        self.assertIn("verify: PASS", self.p.stdout)
        self.assertIn("8 of 8 tensors identical", self.p.stdout)
        self.assertEqual(self.p.stderr, "")

    def test_written_files_hold_the_source_arrays_in_each_layout(self):
        with h5py.File(os.path.join(self.d, "sample_kerasmxnet.h5"), "r") as f:
            src_k = f["model_weights/conv2d_1/conv2d_1/kernel1"][()]   # (out, in, kh, kw)
            src_d = f["model_weights/dense_1/dense_1/kernel1"][()]     # (in, out)
        self.assertEqual(src_k.shape, (4, 2, 3, 3))
        names, arrays, _ = ndarray_ref.load(os.path.join(self.d, "sample-0000.params"))
        mx = dict(zip(names, arrays))
        np.testing.assert_array_equal(mx["arg:conv2d_1_weight"], src_k)
        np.testing.assert_array_equal(mx["arg:dense_1_weight"], src_d.T)
        with h5py.File(os.path.join(self.d, "sample_keras2.h5"), "r") as f:
            back_k = f["model_weights/conv2d_1/conv2d_1/kernel:0"][()]
            back_d = f["model_weights/dense_1/dense_1/kernel:0"][()]
        np.testing.assert_array_equal(back_k, src_k.transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(back_d, src_d)

    def test_mxnet_model_predicts_the_numpy_forward_pass_of_the_source(self):
        with h5py.File(os.path.join(self.d, "sample_kerasmxnet.h5"), "r") as f:
            g = lambda layer, name: f["model_weights/%s/%s/%s1" % (layer, layer, name)][()].astype(np.float64)
            kw, kb = g("conv2d_1", "kernel"), g("conv2d_1", "bias")
            gamma, beta = g("batch_normalization_1", "gamma"), g("batch_normalization_1", "beta")
            mean, var = g("batch_normalization_1", "moving_mean"), g("batch_normalization_1", "moving_variance")
            dw, db = g("dense_1", "kernel"), g("dense_1", "bias")
        x = np.random.default_rng(7).uniform(-1, 1, (3, 2, 8, 8)).astype(np.float32)
        y = conv_same_nchw(x.astype(np.float64), kw, kb)
        c = lambda v: v[None, :, None, None]
        y = (y - c(mean)) / np.sqrt(c(var) + 1e-3) * c(gamma) + c(beta)   # epsilon of the demo's config
        y = np.maximum(y, 0)
        y = y.reshape(3, 4, 4, 2, 4, 2).max(axis=(3, 5))                    # 2x2 max pool, stride 2
        # Flatten(data_format='channels_first') in Keras >= 2.1.6 moves the channel axis last before
        # flattening (formats-keras.md 10.4): the Dense rows run over (H, W, C).
        logits = y.transpose(0, 2, 3, 1).reshape(3, -1) @ dw + db
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        want = e / e.sum(axis=1, keepdims=True)
        np.save(os.path.join(self.d, "x.npy"), x)
        out = os.path.join(self.d, "y.npy")
        prefix = os.path.join(self.d, "sample")
        run("run", prefix + "-symbol.json", prefix + "-0000.params", "--input", os.path.join(self.d, "x.npy"),
            "-o", out, check=0)
        np.testing.assert_allclose(np.load(out), want, atol=1e-5, rtol=0)


class DemoDirectoryErrors(unittest.TestCase):
    def test_bad_directories_give_one_line_and_change_nothing(self):
        d = tmpdir("demo_errors")
        a_file = os.path.join(d, "a_file")
        with open(a_file, "w") as f:
            f.write("keep")
        p = run("demo", a_file)
        self.assertEqual((p.returncode, p.stderr), (2, "weightbridge: %s: not a directory (demo writes its files into it)\n" % a_file))
        self.assertEqual(open(a_file).read(), "keep")
        p = run("demo", "")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        # An output name taken by a directory (empty or not): exit 5, nothing removed.
        for tag, content in (("empty", False), ("full", True)):
            out = os.path.join(d, tag)
            os.makedirs(os.path.join(out, "sample_keras2.h5"))
            if content:
                open(os.path.join(out, "sample_keras2.h5", "x"), "w").close()
            with open(os.path.join(out, "sample_kerasmxnet.h5"), "w") as f:
                f.write("old")
            p = run("demo", out)
            self.assertEqual(p.returncode, 5, p.stderr)
            self.assertIn("sample_keras2.h5: exists and is not a file", p.stderr)
            self.assertEqual(len(p.stderr.splitlines()), 1)
            self.assertTrue(os.path.isdir(os.path.join(out, "sample_keras2.h5")))
            self.assertEqual(open(os.path.join(out, "sample_kerasmxnet.h5")).read(), "old")
        # A directory under a path that is a file: the OS refuses, an I/O error naming the path.
        p = run("demo", os.path.join(a_file, "sub"))
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(a_file, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)

if __name__ == "__main__":
    unittest.main()
