"""`weightbridge run` against outputs the real frameworks produced (fixtures/real/PROVENANCE.md),
and against logits recomputed here with numpy from weights read by ndarray_ref (not by the code
under test). Tolerances are for float32 compute: 1e-5 absolute unless said otherwise."""
import json
import os
import re
import unittest

import h5py
import numpy as np

import ndarray_ref
from wbtest import fixture, run, tmpdir

K2C_GOLD = [0.03729606, 0.00783805, 0.06588034, 0.21728528, 0.01093729,
            0.34730983, 0.01350389, 0.02174525, 0.26624694, 0.01195715]


def run_npy(d, model_files, inputs, *extra):
    """Runs the model on numpy arrays; returns the first output as read by numpy."""
    args = ["run"] + list(model_files)
    for i, x in enumerate(inputs):
        p = os.path.join(d, "in%d.npy" % i)
        np.save(p, x)
        args += ["--input", p]
    out = os.path.join(d, "out.npy")
    run(*(args + ["-o", out] + list(extra)), check=0)
    y = np.load(out)
    assert y.dtype == np.float32, y.dtype
    return y


def k2c_input():
    """keras2cpp sample: header "1 28 28", then numpy-printed rows (brackets, wrapped lines)."""
    with open(fixture("keras1/k2c_mnist_cnn_th_input.dat")) as f:
        head, body = f.read().split("\n", 1)
    dims = [int(v) for v in head.split()]
    vals = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", body)]
    return np.array(vals, dtype=np.float32).reshape([1] + dims)  # batch axis added


class KerasGold(unittest.TestCase):
    def test_cnn_batch_norm(self):
        x = np.load(fixture("keras2/cnn_batch_norm_input.npy"))  # float64: converted by run
        gold = np.load(fixture("keras2/cnn_batch_norm_predictions.npy"))
        y = run_npy(tmpdir("run_cbn"), [fixture("keras2/cnn_batch_norm.h5")], [x])
        self.assertEqual(y.shape, gold.shape)
        np.testing.assert_allclose(y, gold, rtol=0, atol=1e-5)

    def test_causal_conv1d_dilated(self):
        with h5py.File(fixture("keras2/causal_conv1d_dilated_inputs_and_outputs.h5"), "r") as f:
            x = np.array(f["inputs/conv0_input"])
            gold = np.array(f["predictions/conv0"])
        y = run_npy(tmpdir("run_causal"), [fixture("keras2/causal_conv1d_dilated_model.h5")], [x])
        self.assertEqual(y.shape, (2, 16, 4))
        np.testing.assert_allclose(y, gold, rtol=0, atol=1e-5)

    def test_keras1_theano_cnn_needs_kernel_flip(self):
        files = [fixture("keras1/k2c_mnist_cnn_th_weights.h5"), "--arch", fixture("keras1/k2c_mnist_cnn_th_arch.json")]
        x = k2c_input()
        self.assertEqual(x.shape, (1, 1, 28, 28))
        y = run_npy(tmpdir("run_k2c"), files, [x], "--kernel-flip", "yes")
        np.testing.assert_allclose(y[0], K2C_GOLD, rtol=0, atol=1e-5)
        d = tmpdir("run_k2c_refuse")
        np.save(d + "/x.npy", x)
        p = run("run", *files, "--input", d + "/x.npy", "-o", d + "/y.npy", check=3)
        self.assertIn("--kernel-flip", p.stderr)
        self.assertFalse(os.path.exists(d + "/y.npy"))


class MxnetGold(unittest.TestCase):
    def test_linreg(self):
        y = run_npy(tmpdir("run_linreg"), [fixture("mxnet-module/linreg-symbol.json"),
                                           fixture("mxnet-module/linreg-0000.params")],
                    [np.array([[1.0, 2.0]], dtype=np.float32)])
        self.assertEqual(y.shape, (1, 1))
        self.assertAlmostEqual(float(y[0, 0]), 4.9999918937683105, delta=1e-5)

    def test_gluon_mnist_mlp(self):
        with open(fixture("mxnet-gluon/mnist_04_input.json")) as f:
            x = np.array(json.load(f), dtype=np.float32).reshape(1, 784)
        params = fixture("mxnet-gluon/mnist_mlp_gluon.params")
        y = run_npy(tmpdir("run_mnist"), [fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), params], [x])
        self.assertEqual(y.shape, (1, 10))
        self.assertEqual(int(np.argmax(y)), 4)
        self.assertAlmostEqual(float(y.max()), 16.30, delta=0.01)
        # FullyConnected: x W^T + b, relu between layers, in float64 from the independently read weights.
        p = ndarray_ref.load_dict(params)
        h = x.astype(np.float64)
        for i in range(3):
            h = h @ p["sequential0_dense%d_weight" % i].T.astype(np.float64) + p["sequential0_dense%d_bias" % i]
            if i < 2:
                h = np.maximum(h, 0)
        np.testing.assert_allclose(y, h, rtol=0, atol=1e-4)


class ConvertedModelsRun(unittest.TestCase):
    def test_cnn_batch_norm_exported_to_mxnet_predicts_the_same(self):
        # Proves the exported symbol's transposes and layouts: same input, same gold output.
        d = tmpdir("run_cbn_mx")
        run("convert", fixture("keras2/cnn_batch_norm.h5"), "--to", "mxnet", "-o", d + "/m", check=0)
        x = np.load(fixture("keras2/cnn_batch_norm_input.npy"))
        gold = np.load(fixture("keras2/cnn_batch_norm_predictions.npy"))
        y = run_npy(d, [d + "/m-symbol.json", d + "/m-0000.params"], [x])
        np.testing.assert_allclose(y, gold, rtol=0, atol=1e-5)

    def test_keras1_cnn_exported_to_mxnet_and_back_to_keras(self):
        d = tmpdir("run_k2c_mx")
        run("convert", fixture("keras1/k2c_mnist_cnn_th_weights.h5"), "--arch",
            fixture("keras1/k2c_mnist_cnn_th_arch.json"), "--kernel-flip", "yes", "--to", "mxnet", "-o", d + "/m",
            check=0)
        y = run_npy(d, [d + "/m-symbol.json", d + "/m-0000.params"], [k2c_input()])
        np.testing.assert_allclose(y[0], K2C_GOLD, rtol=0, atol=1e-5)
        run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/back.h5", check=0)
        y = run_npy(d, [d + "/back.h5"], [k2c_input()])
        np.testing.assert_allclose(y[0], K2C_GOLD, rtol=0, atol=1e-5)

    def test_causal_conv_exported_to_mxnet_predicts_the_same(self):
        # MXNet has no causal padding: a symmetric pad and a slice of the first T outputs.
        with h5py.File(fixture("keras2/causal_conv1d_dilated_inputs_and_outputs.h5"), "r") as f:
            x = np.array(f["inputs/conv0_input"])
            gold = np.array(f["predictions/conv0"])
        d = tmpdir("run_causal_mx")
        run("convert", fixture("keras2/causal_conv1d_dilated_model.h5"), "--to", "mxnet", "-o", d + "/m", check=0)
        y = run_npy(d, [d + "/m-symbol.json", d + "/m-0000.params"], [x])
        np.testing.assert_allclose(y, gold, rtol=0, atol=1e-5)


class RunCommandLine(unittest.TestCase):
    def test_usage_errors(self):
        d = tmpdir("run_usage")
        np.save(d + "/x.npy", np.zeros((1, 2), dtype=np.float32))
        model = [fixture("mxnet-module/linreg-symbol.json"), fixture("mxnet-module/linreg-0000.params")]
        run("run", *model, "--input", d + "/x.npy", "--input", d + "/x.npy", check=2)  # one Input node
        run("run", *model, "--input", d + "/x.npy", "-o", d + "/a.npy", "-o", d + "/b.npy", check=2)  # one output
        run("run", *model, "--input", d + "/x.npy", "-o", d + "/x.npy", check=2)  # would overwrite the input
        np.save(d + "/bad.npy", np.zeros((1, 3), dtype=np.float32))
        p = run("run", *model, "--input", d + "/bad.npy", check=3)  # FullyConnected weight takes 2 features
        self.assertIn("weightbridge:", p.stderr)

    def test_prints_shape_and_values(self):
        d = tmpdir("run_print")
        np.save(d + "/x.npy", np.array([[1.0, 2.0]]))
        # --input takes one file per occurrence, so model files may follow it.
        p = run("run", "--input", d + "/x.npy", fixture("mxnet-module/linreg-symbol.json"),
                fixture("mxnet-module/linreg-0000.params"), check=0)
        self.assertIn("shape (1, 1)", p.stdout)
        self.assertIn("4.99999", p.stdout)


if __name__ == "__main__":
    unittest.main()
