"""keras-mxnet .h5 -> standard Keras 2 .h5. No real keras-mxnet .h5 is among the fixtures, so the
files here are built with h5py exactly as formats-keras.md section 7.2 describes keras-mxnet's
save(): backend 'mxnet', 4-part keras_version, weight names '<layer>/<var>1', channels_first conv
kernels in MXNet (filters, in, kh, kw) order, BatchNormalization always storing gamma and beta."""
import json
import unittest

import h5py
import numpy as np

from test_convert import keras_weights
from wbtest import run, tmpdir

RNG = np.random.default_rng(7)


def build(path, bn_scale=True, gamma=None, conv_groups=None):
    conv_k = RNG.standard_normal((5, 3, 3, 2)).astype(np.float32)  # (filters, in, kh, kw), non-square
    bn = [np.ones(5, np.float32) if gamma is None else gamma, RNG.standard_normal(5).astype(np.float32),
          RNG.standard_normal(5).astype(np.float32), RNG.random(5).astype(np.float32) + 0.5]
    dense_k = RNG.standard_normal((5 * 4 * 3, 2)).astype(np.float32)
    layers = [
        {"class_name": "Conv2D", "config": {"name": "conv2d_1", "filters": 5, "kernel_size": [3, 2],
                                            "strides": [1, 1], "padding": "valid", "data_format": "channels_first",
                                            "dilation_rate": [1, 1], "activation": "relu", "use_bias": True,
                                            "batch_input_shape": [None, 3, 6, 4]}},
        {"class_name": "BatchNormalization", "config": {"name": "batch_normalization_1", "axis": 1,
                                                        "epsilon": 0.001, "momentum": 0.99, "center": True,
                                                        "scale": bn_scale}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "data_format": "channels_first"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "activation": "softmax", "use_bias": True}},
    ]
    weights = {
        "conv2d_1": [("conv2d_1/kernel1", conv_k), ("conv2d_1/bias1", RNG.standard_normal(5).astype(np.float32))],
        "batch_normalization_1": [("batch_normalization_1/" + n + "1", a)
                                  for n, a in zip(["gamma", "beta", "moving_mean", "moving_variance"], bn)],
        "flatten_1": [],
        "dense_1": [("dense_1/kernel1", dense_k), ("dense_1/bias1", RNG.standard_normal(2).astype(np.float32))],
    }
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4.3"
        f.attrs["backend"] = b"mxnet"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                              "config": {"name": "sequential_1", "layers": layers}}).encode()
        g = f.create_group("model_weights")
        g.attrs["keras_version"] = b"2.2.4.3"
        g.attrs["backend"] = b"mxnet"
        g.attrs["layer_names"] = [n.encode() for n in weights]
        for lname, ws in weights.items():
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = [n.encode() for n, _ in ws] if ws else np.zeros((0,), np.float64)
            for n, a in ws:
                lg.create_dataset(n, data=a)
    return weights


class KerasMxnetH5(unittest.TestCase):
    def test_to_standard_keras2(self):
        d = tmpdir("kmx_std")
        w = build(d + "/kmx.h5")
        p = run("convert", d + "/kmx.h5", "--to", "keras", "-o", d + "/k2.h5", "--verify", check=0)
        self.assertIn("keras-mxnet", p.stdout)
        out = keras_weights(d + "/k2.h5")
        np.testing.assert_array_equal(out["conv2d_1"][0], w["conv2d_1"][0][1].transpose(2, 3, 1, 0))
        self.assertEqual(out["conv2d_1"][0].shape, (3, 2, 3, 5))
        for i in range(4):
            np.testing.assert_array_equal(out["batch_normalization_1"][i], w["batch_normalization_1"][i][1])
        np.testing.assert_array_equal(out["dense_1"][0], w["dense_1"][0][1])
        with h5py.File(d + "/k2.h5", "r") as f:
            be = f.attrs["backend"]
            self.assertEqual(be.decode() if isinstance(be, bytes) else be, "tensorflow")
            names = [n.decode() for n in f["model_weights/conv2d_1"].attrs["weight_names"]]
            self.assertEqual(names, ["conv2d_1/kernel:0", "conv2d_1/bias:0"])

    def test_bn_scale_false_drops_identity_gamma(self):
        d = tmpdir("kmx_bn")
        w = build(d + "/kmx.h5", bn_scale=False)
        run("convert", d + "/kmx.h5", "--to", "keras", "-o", d + "/k2.h5", "--verify", check=0)
        bn = keras_weights(d + "/k2.h5")["batch_normalization_1"]
        self.assertEqual(len(bn), 3)  # beta, moving_mean, moving_variance
        np.testing.assert_array_equal(bn[0], w["batch_normalization_1"][1][1])

    def test_bn_scale_false_with_trained_gamma_is_dropped_with_a_warning(self):
        """Failure case BR-13 (b): keras-mxnet's BatchNorm ignores gamma (MXNet fix_gamma), so a stored
        gamma != 1 under scale=False never affected its outputs: dropped, and the drop is reported."""
        d = tmpdir("kmx_bn_trained")
        w = build(d + "/kmx.h5", bn_scale=False, gamma=np.full(5, 1.5, np.float32))
        p = run("convert", d + "/kmx.h5", "--to", "keras", "-o", d + "/k2.h5", "--verify", check=0)
        self.assertIn("warning: layer batch_normalization_1: scale=False: discarded the stored gamma "
                      "batch_normalization_1/gamma1 = [1.5, 1.5, 1.5, 1.5, ...]", p.stdout)
        bn = keras_weights(d + "/k2.h5")["batch_normalization_1"]
        self.assertEqual([a.tobytes() for a in bn], [a.tobytes() for _, a in w["batch_normalization_1"][1:]])

    def test_to_mxnet(self):
        d = tmpdir("kmx_mx")
        w = build(d + "/kmx.h5")
        run("convert", d + "/kmx.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        import ndarray_ref
        p = ndarray_ref.load_dict(d + "/m-0000.params")
        # already in MXNet order: unchanged
        np.testing.assert_array_equal(p["arg:conv2d_1_weight"], w["conv2d_1"][0][1])
        np.testing.assert_array_equal(p["arg:dense_1_weight"], w["dense_1"][0][1].T)

    def test_manifest_calls_a_kernel_already_in_mxnet_order_untouched(self):
        # keras-mxnet's kernel is read into Keras order and written back in MXNet's: the two
        # transposes cancel, and the manifest says so (its bytes, hashed here, are the same).
        import hashlib
        d = tmpdir("kmx_manifest")
        w = build(d + "/kmx.h5")
        run("convert", d + "/kmx.h5", "--to", "mxnet", "-o", d + "/m", "--manifest", d + "/man.json", check=0)
        rows = {r["source_name"]: r for r in json.load(open(d + "/man.json"))["tensors"]}
        k = rows["conv2d_1/kernel1"]
        self.assertTrue(k["transform"].startswith("none ("), k["transform"])
        self.assertEqual(k["sha256_before"], hashlib.sha256(w["conv2d_1"][0][1].tobytes()).hexdigest())
        self.assertEqual(k["sha256_after"], k["sha256_before"])
        self.assertEqual(rows["dense_1/kernel1"]["transform"], "transpose(1, 0)")


if __name__ == "__main__":
    unittest.main()
