"""convert --data-format and --flatten-order (formats-keras.md 10), failure cases BR-01 and BR-04.

Models are built here with h5py in one layout; expected weights are the numpy permutation of the
source weights computed here from the formulas of formats-keras.md 10.3, expected outputs come from
a numpy float64 forward pass of the source written from the layers' definitions, or from the values
stated in docs/failure-cases.md."""
import json
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import fixture, run, tmpdir, write_sequential

RNG = np.random.default_rng(11)


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def write_model(path, input_shape, layers, version="2.2.4", backend="tensorflow"):
    """layers: [(class, config, [(weight name, array)...])] as a Sequential file; version None
    leaves keras_version out (as Keras 1 and some converters do)."""
    write_sequential(path, input_shape, layers, version, backend)


def model_config(path):
    with h5py.File(path, "r") as f:
        c = json.loads(f.attrs["model_config"])
    return {l["config"]["name"]: l for l in c["config"]["layers"]}


def load_json(path):
    with open(path) as f:
        return json.load(f)


def run_model(d, files, x, *extra):
    np.save(d + "/x.npy", x.astype(np.float32))
    run("run", *files, "--input", d + "/x.npy", "-o", d + "/y.npy", *extra, check=0)
    return np.load(d + "/y.npy")


def to_last(x):
    return np.moveaxis(x, 1, -1)


def to_first(x):
    return np.moveaxis(x, -1, 1)


# ---- numpy float64 references, channels_first, batch first (Keras kernel layout (k..., in, out)) ----

def conv_cf(x, k, b, strides=None):
    """Valid correlation over the spatial axes of x (N, C, *S) with kernel (*K, C, O)."""
    x = x.astype(np.float64)
    r = x.ndim - 2
    ks = k.shape[:r]
    strides = strides or (1,) * r
    out_sp = [(x.shape[2 + i] - ks[i]) // strides[i] + 1 for i in range(r)]
    y = np.zeros((x.shape[0], k.shape[-1]) + tuple(out_sp))
    for off in np.ndindex(*ks):
        sl = tuple(slice(off[i], off[i] + strides[i] * (out_sp[i] - 1) + 1, strides[i]) for i in range(r))
        patch = x[(slice(None), slice(None)) + sl]  # (N, C, *out)
        y += np.einsum("nc...,co->no...", patch, k[off].astype(np.float64))
    return y + b.reshape((1, -1) + (1,) * r)


def maxpool_cf(x, p):
    r = x.ndim - 2
    out = [x.shape[2 + i] // p[i] for i in range(r)]
    y = np.full(x.shape[:2] + tuple(out), -np.inf)
    for off in np.ndindex(*p):
        sl = tuple(slice(off[i], off[i] + p[i] * out[i], p[i]) for i in range(r))
        y = np.maximum(y, x[(slice(None), slice(None)) + sl])
    return y


def relu(x):
    return np.maximum(x, 0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def chw_to_hwc_rows(kernel, chw):
    """Dense kernel rows in (C, H, W) order -> (H, W, C) order (formats-keras.md 10.3), for any
    number of spatial axes: new[r_cl] = old[r_cf]."""
    c = chw[0]
    sp = chw[1:]
    new = np.empty_like(kernel)
    for ci in range(c):
        for s in np.ndindex(*sp):
            r_cf = np.ravel_multi_index((ci,) + s, chw)
            r_cl = np.ravel_multi_index(s + (ci,), tuple(sp) + (c,))
            new[r_cl] = kernel[r_cf]
    return new


def cnn_layers(cin, fmt, flatten_cfg, kernel, bias, dense, dbias):
    return [
        ("Conv2D", {"name": "conv", "filters": kernel.shape[-1], "kernel_size": list(kernel.shape[:2]),
                    "strides": [1, 1], "padding": "valid", "data_format": fmt, "dilation_rate": [1, 1],
                    "activation": "relu", "use_bias": True}, [("kernel", kernel), ("bias", bias)]),
        ("Flatten", dict({"name": "flat"}, **flatten_cfg), []),
        ("Dense", {"name": "dense", "units": dense.shape[1], "activation": "softmax", "use_bias": True},
         [("kernel", dense), ("bias", dbias)]),
    ]


class ChannelsFirstToLast(unittest.TestCase):
    """Input 3x5x7 (C, H, W), Conv2D 4 filters 2x3 -> (4, 4, 5), Flatten, Dense 6."""

    def setUp(self):
        self.k = rnd(2, 3, 3, 4)
        self.b = rnd(4)
        self.w = rnd(4 * 4 * 5, 6)
        self.wb = rnd(6)
        self.x = rnd(2, 3, 5, 7)

    def reference(self, flatten_hwc):
        y = relu(conv_cf(self.x, self.k, self.b))  # (N, 4, 4, 5)
        flat = (np.moveaxis(y, 1, -1) if flatten_hwc else y).reshape(len(y), -1)
        return softmax(flat @ self.w.astype(np.float64) + self.wb)

    def convert(self, name, version, flatten_cfg, *extra, check=0):
        d = tmpdir("dfmt_" + name)
        src, dst = d + "/cf.h5", d + "/cl.h5"
        write_model(src, (3, 5, 7), cnn_layers(3, "channels_first", flatten_cfg, self.k, self.b, self.w, self.wb),
                    version=version)
        p = run("convert", src, "--to", "keras", "-o", dst, "--data-format", "channels_last",
                "--manifest", d + "/m.json", *extra, check=check)
        return d, src, dst, p

    def check_converted(self, d, src, dst, flatten_hwc):
        cfg = model_config(dst)
        self.assertEqual(cfg["conv"]["config"]["data_format"], "channels_last")
        self.assertEqual(cfg["flat"]["config"]["data_format"], "channels_last")
        inputs = [l for l in cfg.values() if l["class_name"] == "InputLayer"]
        self.assertEqual(inputs[0]["config"]["batch_input_shape"], [None, 5, 7, 3])
        w = keras_weights(dst)
        # Keras 2 conv kernels do not depend on the data format: byte-identical.
        self.assertEqual(w["conv"][0].tobytes(), self.k.tobytes())
        want = self.w if flatten_hwc else chw_to_hwc_rows(self.w, (4, 4, 5))
        self.assertEqual(w["dense"][0].tobytes(), want.tobytes())
        self.assertEqual(w["dense"][1].tobytes(), self.wb.tobytes())
        # The converted model on the transposed input gives the source's numpy output.
        y = run_model(d, [dst], to_last(self.x))
        np.testing.assert_allclose(y, self.reference(flatten_hwc), atol=1e-5)
        # verify moves the input between the two layouts by itself.
        v = run("verify", src, "--against", dst, check=0)
        self.assertIn("given to b in its data format", v.stdout)
        self.assertIn("(2, 3, 5, 7) -> (2, 5, 7, 3)", v.stdout)
        m = load_json(d + "/m.json")
        dense_row = [t for t in m["tensors"] if t["layer"] == "dense" and t["role"] == "kernel"][0]
        if flatten_hwc:
            self.assertEqual(dense_row["transform"], "none")
        else:
            self.assertIn("rows reordered (C,H,W)->(H,W,C)", dense_row["transform"])
        self.assertEqual(m["policy"]["data_format"], "channels_last")

    def test_keras_2_1_5_flatten_without_data_format_is_chw(self):
        d, src, dst, _ = self.convert("k215", "2.1.5", {})
        self.check_converted(d, src, dst, flatten_hwc=False)

    def test_keras_2_2_4_flatten_channels_first_is_hwc(self):
        d, src, dst, _ = self.convert("k224", "2.2.4", {"data_format": "channels_first"})
        self.check_converted(d, src, dst, flatten_hwc=True)

    def test_keras_2_1_6_flatten_channels_last_on_cf_tensor_is_chw(self):
        d, src, dst, _ = self.convert("k216", "2.1.6", {"data_format": "channels_last"})
        self.check_converted(d, src, dst, flatten_hwc=False)

    def test_convert_verify_passes(self):
        d, src, dst, _ = self.convert("k215v", "2.1.5", {}, "--verify")

    def test_undecidable_flatten_is_refused_naming_the_option(self):
        # tf.keras 2.4 always writes Flatten's data_format; without it the loading machine's
        # image_data_format would decide, which no file records.
        d, src, dst, p = self.convert("k24", "2.4.0", {}, check=None)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("layer 'flat'", p.stderr)
        self.assertIn("--flatten-order", p.stderr)
        for order, hwc in (("channels_first", False), ("channels_last", True)):
            p = run("convert", src, "--to", "keras", "-o", dst, "--data-format", "channels_last",
                    "--flatten-order", order, check=0)
            w = keras_weights(dst)
            want = self.w if hwc else chw_to_hwc_rows(self.w, (4, 4, 5))
            self.assertEqual(w["dense"][0].tobytes(), want.tobytes(), order)
            np.testing.assert_allclose(run_model(d, [dst], to_last(self.x)), self.reference(hwc), atol=1e-5)

    def test_round_trip_back_to_channels_first(self):
        d, src, dst, _ = self.convert("rt", "2.1.5", {})
        back = d + "/back.h5"
        run("convert", dst, "--to", "keras", "-o", back, "--data-format", "channels_first", check=0)
        w = keras_weights(back)
        self.assertEqual(w["dense"][0].tobytes(), self.w.tobytes())
        self.assertEqual(model_config(back)["conv"]["config"]["data_format"], "channels_first")
        np.testing.assert_allclose(run_model(d, [back], self.x), self.reference(False), atol=1e-5)

    def test_to_mxnet_channels_last_input(self):
        """MXNet target: the rewritten model takes NHWC input (transposes inside the symbol)."""
        d, src, _, _ = self.convert("mx", "2.1.5", {})
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--data-format", "channels_last", check=0)
        sym = load_json(d + "/mx-symbol.json")
        data = [n for n in sym["nodes"] if n["name"] == "data"][0]
        self.assertEqual(data["attrs"]["__shape__"], "(0, 5, 7, 3)")
        y = run_model(d, [d + "/mx-symbol.json", d + "/mx-0000.params"], to_last(self.x))
        np.testing.assert_allclose(y, self.reference(False), atol=1e-5)



def bn(y, gamma, beta, mean, var, eps=1e-3):
    sh = (1, -1) + (1,) * (y.ndim - 2)
    return (y - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * gamma.reshape(sh) + beta.reshape(sh)


def conv_layer(name, rank, kernel, fmt, bias=None, activation="linear"):
    cfg = {"name": name, "filters": kernel.shape[-1], "kernel_size": list(kernel.shape[:rank]),
           "strides": [1] * rank, "padding": "valid", "data_format": fmt, "dilation_rate": [1] * rank,
           "activation": activation, "use_bias": bias is not None}
    ws = [("kernel", kernel)] + ([("bias", bias)] if bias is not None else [])
    return ("Conv%dD" % rank, cfg, ws)


def dense_layer(name, kernel, bias=None, activation="linear"):
    cfg = {"name": name, "units": kernel.shape[1], "activation": activation, "use_bias": bias is not None}
    return ("Dense", cfg, [("kernel", kernel)] + ([("bias", bias)] if bias is not None else []))


class OtherLayers(unittest.TestCase):
    """Every layer kind whose config or weights depend on the data format, channels_first ->
    channels_last; outputs from numpy forward passes of the channels_first source."""

    def convert_and_run(self, name, input_shape, layers, x, version="2.1.5"):
        d = tmpdir("dfmt_" + name)
        src, dst = d + "/cf.h5", d + "/cl.h5"
        write_model(src, input_shape, layers, version=version)
        run("convert", src, "--to", "keras", "-o", dst, "--data-format", "channels_last", check=0)
        run("verify", src, "--against", dst, check=0)
        return dst, run_model(d, [dst], to_last(x) if x.ndim > 2 else x)

    def test_conv2d_with_bn_prelu_padding_cropping_upsampling_pooling(self):
        cf = "channels_first"
        k, b = rnd(3, 2, 2, 3), rnd(3)
        gamma, beta, mean, var = rnd(3), rnd(3), rnd(3), np.abs(rnd(3)) + 0.5
        alpha = rnd(3, 1, 1)      # shared over H, W
        alpha2 = rnd(3, 4, 15)    # one alpha per position
        dense = rnd(3 * 2 * 7, 5)
        layers = [
            ("ZeroPadding2D", {"name": "pad", "padding": [[1, 0], [0, 2]], "data_format": cf}, []),
            conv_layer("conv", 2, k, cf, b),
            ("BatchNormalization", {"name": "bn", "axis": 1, "epsilon": 1e-3, "momentum": 0.99, "center": True,
                                    "scale": True}, [("gamma", gamma), ("beta", beta), ("moving_mean", mean),
                                                     ("moving_variance", var)]),
            ("PReLU", {"name": "prelu", "shared_axes": [2, 3]}, [("alpha", alpha)]),
            ("Cropping2D", {"name": "crop", "cropping": [[0, 1], [1, 0]], "data_format": cf}, []),
            ("UpSampling2D", {"name": "up", "size": [2, 3], "data_format": cf}, []),
            ("PReLU", {"name": "prelu2"}, [("alpha", alpha2)]),
            ("MaxPooling2D", {"name": "pool", "pool_size": [2, 2], "strides": [2, 2], "padding": "valid",
                              "data_format": cf}, []),
            ("Flatten", {"name": "flat"}, []),
            dense_layer("dense", dense),
        ]
        x = rnd(2, 2, 4, 5)
        dst, got = self.convert_and_run("many2d", (2, 4, 5), layers, x)
        y = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 0), (0, 2)))   # (N, 2, 5, 7)
        y = bn(conv_cf(y, k, b), gamma, beta, mean, var)                      # (N, 3, 3, 6)
        y = np.where(y > 0, y, alpha.reshape(1, 3, 1, 1) * y)
        y = y[:, :, 0:-1, 1:].repeat(2, axis=2).repeat(3, axis=3)             # (N, 3, 4, 15)
        y = np.where(y > 0, y, alpha2[None] * y)
        y = maxpool_cf(y, (2, 2))                                             # (N, 3, 2, 7)
        want = y.reshape(len(y), -1) @ dense
        np.testing.assert_allclose(got, want, atol=1e-4)
        cfg = model_config(dst)
        for layer in ("pad", "conv", "crop", "up", "pool"):
            self.assertEqual(cfg[layer]["config"]["data_format"], "channels_last", layer)
        self.assertEqual(cfg["bn"]["config"]["axis"], -1)
        self.assertEqual(cfg["prelu"]["config"]["shared_axes"], [1, 2])
        self.assertIn(cfg["prelu2"]["config"]["shared_axes"], (None, []))
        w = keras_weights(dst)
        self.assertEqual(w["conv"][0].tobytes(), k.tobytes())
        self.assertEqual(w["prelu"][0].tobytes(), np.transpose(alpha, (1, 2, 0)).tobytes())
        self.assertEqual(w["prelu2"][0].tobytes(), np.transpose(alpha2, (1, 2, 0)).tobytes())
        self.assertEqual([a.tobytes() for a in w["bn"]], [a.tobytes() for a in (gamma, beta, mean, var)])
        self.assertEqual(w["dense"][0].tobytes(), chw_to_hwc_rows(dense, (3, 2, 7)).tobytes())

    def test_conv1d_flatten_dense(self):
        k, b, dense = rnd(3, 3, 4), rnd(4), rnd(4 * 3, 2)
        layers = [conv_layer("conv", 1, k, "channels_first", b, "relu"),
                  ("MaxPooling1D", {"name": "pool", "pool_size": 2, "strides": 2, "padding": "valid",
                                    "data_format": "channels_first"}, []),
                  ("Flatten", {"name": "flat"}, []), dense_layer("dense", dense)]
        x = rnd(2, 3, 8)  # (C, L)
        dst, got = self.convert_and_run("c1d", (3, 8), layers, x)
        y = maxpool_cf(relu(conv_cf(x, k, b)), (2,))  # (N, 4, 3)
        np.testing.assert_allclose(got, y.reshape(2, -1) @ dense, atol=1e-5)
        self.assertEqual(keras_weights(dst)["dense"][0].tobytes(), chw_to_hwc_rows(dense, (4, 3)).tobytes())

    def test_conv3d_flatten_dense(self):
        k, b, dense = rnd(2, 2, 2, 2, 3), rnd(3), rnd(3 * 2 * 3 * 4, 2)
        layers = [conv_layer("conv", 3, k, "channels_first", b), ("Flatten", {"name": "flat"}, []),
                  dense_layer("dense", dense)]
        x = rnd(2, 2, 3, 4, 5)  # (C, D, H, W)
        dst, got = self.convert_and_run("c3d", (2, 3, 4, 5), layers, x)
        y = conv_cf(x, k, b)  # (N, 3, 2, 3, 4)
        np.testing.assert_allclose(got, y.reshape(2, -1) @ dense, atol=1e-5)
        self.assertEqual(keras_weights(dst)["dense"][0].tobytes(), chw_to_hwc_rows(dense, (3, 2, 3, 4)).tobytes())
        self.assertEqual(model_config(dst)["conv"]["config"]["data_format"], "channels_last")

    def test_global_pooling_keeps_dense_rows(self):
        k, b, dense, db = rnd(2, 3, 3), rnd(3), rnd(3, 2), rnd(2)
        layers = [conv_layer("conv", 1, k, "channels_first", b),
                  ("GlobalAveragePooling1D", {"name": "gap", "data_format": "channels_first"}, []),
                  dense_layer("dense", dense, db)]
        x = rnd(2, 3, 6)
        dst, got = self.convert_and_run("gap", (3, 6), layers, x)
        np.testing.assert_allclose(got, conv_cf(x, k, b).mean(axis=2) @ dense + db, atol=1e-5)
        self.assertEqual(keras_weights(dst)["dense"][0].tobytes(), dense.tobytes())
        self.assertEqual(model_config(dst)["gap"]["config"]["data_format"], "channels_last")

    def test_permute_is_rewritten(self):
        k, dense = rnd(1, 1, 3, 2), rnd(2 * 5 * 7, 4)
        layers = [conv_layer("conv", 2, k, "channels_first"), ("Permute", {"name": "perm", "dims": [2, 3, 1]}, []),
                  ("Reshape", {"name": "rs", "target_shape": [-1]}, []), dense_layer("dense", dense)]
        x = rnd(2, 3, 5, 7)
        dst, got = self.convert_and_run("perm", (3, 5, 7), layers, x)
        y = np.transpose(conv_cf(x, k, np.zeros(2)), (0, 2, 3, 1)).reshape(2, -1)
        np.testing.assert_allclose(got, y @ dense, atol=1e-5)
        self.assertEqual(model_config(dst)["perm"]["config"]["dims"], [1, 2, 3])
        self.assertEqual(keras_weights(dst)["dense"][0].tobytes(), dense.tobytes())

    def test_one_channel_reshape_is_rewritten(self):
        k, dense = rnd(2, 2, 1, 3), rnd(3, 2)
        layers = [("Reshape", {"name": "rs", "target_shape": [1, 4, 5]}, []), conv_layer("conv", 2, k, "channels_first"),
                  ("GlobalMaxPooling2D", {"name": "gmp", "data_format": "channels_first"}, []), dense_layer("dense", dense)]
        x = rnd(2, 20)
        dst, got = self.convert_and_run("rs1", (20,), layers, x)
        y = conv_cf(x.reshape(2, 1, 4, 5), k, np.zeros(3)).max(axis=(2, 3))
        np.testing.assert_allclose(got, y @ dense, atol=1e-5)
        self.assertEqual(model_config(dst)["rs"]["config"]["target_shape"], [4, 5, 1])


class Refusals(unittest.TestCase):
    """What a weight permutation cannot reproduce is refused with exit 3, naming the layer."""

    def refused(self, name, input_shape, layers, layer, *words, target="channels_last"):
        d = tmpdir("dfmt_refuse_" + name)
        write_model(d + "/m.h5", input_shape, layers, version="2.1.5")
        p = run("convert", d + "/m.h5", "--to", "keras", "-o", d + "/out.h5", "--data-format", target, check=3)
        self.assertIn(layer, p.stderr)
        for w in words:
            self.assertIn(w, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        import os
        self.assertFalse(os.path.exists(d + "/out.h5"))

    def test_dense_on_an_image_tensor(self):
        self.refused("dense", (3, 5, 7), [conv_layer("conv", 2, rnd(1, 1, 3, 2), "channels_first"),
                                          dense_layer("mix", rnd(7, 4)), ("Flatten", {"name": "flat"}, []),
                                          dense_layer("out", rnd(2 * 5 * 4, 1))], "layer 'mix'")

    def test_reshape_into_a_multi_channel_image(self):
        self.refused("rs", (60,), [("Reshape", {"name": "rs", "target_shape": [3, 4, 5]}, []),
                                   conv_layer("conv", 2, rnd(1, 1, 3, 2), "channels_first"),
                                   ("GlobalMaxPooling2D", {"name": "g", "data_format": "channels_first"}, [])],
                     "layer 'rs'", "3 channels")

    def test_reshape_of_an_image_into_another_shape(self):
        self.refused("rs2", (3, 4, 5), [conv_layer("conv", 2, rnd(1, 1, 3, 2), "channels_first"),
                                        ("Reshape", {"name": "rs", "target_shape": [2, 20]}, []),
                                        ("Flatten", {"name": "flat"}, []), dense_layer("d", rnd(40, 1))], "layer 'rs'")

    def test_flattened_features_as_model_output(self):
        self.refused("out", (3, 4, 5), [conv_layer("conv", 2, rnd(1, 1, 3, 2), "channels_first"),
                                        ("Flatten", {"name": "flat"}, [])], "model output 'flat'")

    def test_unknown_data_format_is_a_usage_error(self):
        d = tmpdir("dfmt_usage")
        write_model(d + "/m.h5", (3, 4, 5), [conv_layer("conv", 2, rnd(1, 1, 3, 2), "channels_first")])
        p = run("convert", d + "/m.h5", "--to", "keras", "-o", d + "/o.h5", "--data-format", "NHWC", check=2)
        self.assertIn("--data-format", p.stderr)
        p = run("convert", d + "/m.h5", "--to", "keras", "-o", d + "/o.h5", "--flatten-order", "hwc", check=2)
        self.assertIn("--flatten-order", p.stderr)


BR01_X = np.zeros((1, 2, 2, 2), np.float32)
BR01_X[0, 1, 0, 0] = 1.0  # x[c=1, h=0, w=0] = 1


class BR01FlattenOrder(unittest.TestCase):
    """failure-cases.md BR-01: input (2,2,2) channels_first -> Flatten -> Dense(1, no bias),
    kernel rows 1..8. File A (2.2.4, Flatten channels_first): output 2, MXNet rows [1,3,5,7,2,4,6,8].
    File B (2.1.5, no data_format): output 5, rows unchanged."""

    KERNEL = np.arange(1, 9, dtype=np.float32).reshape(8, 1)

    def write(self, d, version, flatten_cfg):
        write_model(d + "/m.h5", (2, 2, 2), [("Flatten", dict({"name": "flatten_1"}, **flatten_cfg), []),
                                             dense_layer("dense_1", self.KERNEL)],
                    version=version, backend="mxnet" if version else "tensorflow")
        return d + "/m.h5"

    def check(self, d, src, rows, output, *extra):
        """The Keras model gives `output`; the MXNet export gives it too, and its native form
        (Flatten + FullyConnected, no transpose) has the weight rows `rows`."""
        self.assertAlmostEqual(float(run_model(d, [src], BR01_X, *extra)[0, 0]), output, places=5)
        run("convert", src, "--to", "mxnet", "-o", d + "/mx", *extra, check=0)
        mx = [d + "/mx-symbol.json", d + "/mx-0000.params"]
        self.assertAlmostEqual(float(run_model(d, mx, BR01_X)[0, 0]), output, places=5)
        if "transpose" in [n["op"] for n in load_json(mx[0])["nodes"]]:
            # the default export moves the channels last inside the graph (byte-exact weights);
            # --data-format channels_first asks for the native channels_first graph
            run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--data-format", "channels_first", *extra, check=0)
            self.assertNotIn("transpose", [n["op"] for n in load_json(mx[0])["nodes"]])
            self.assertAlmostEqual(float(run_model(d, mx, BR01_X)[0, 0]), output, places=5)
        w = ndarray_ref.load_dict(mx[1])["arg:dense_1_weight"]
        self.assertEqual(w.reshape(-1).tolist(), rows)
        # MXNet Flatten of the NCHW input, then FullyConnected: numpy from the written weights.
        x = BR01_X
        if "arg:conv_weight" in ndarray_ref.load_dict(mx[1]):
            x = np.einsum("nchw,oc->nohw", x, ndarray_ref.load_dict(mx[1])["arg:conv_weight"][:, :, 0, 0])
        self.assertAlmostEqual(float((x.reshape(1, -1) @ w.T)[0, 0]), output, places=5)

    def test_file_a_new_semantics(self):
        d = tmpdir("br01_a")
        self.check(d, self.write(d, "2.2.4", {"data_format": "channels_first"}), [1, 3, 5, 7, 2, 4, 6, 8], 2.0)

    def test_metadata_decides_over_the_option(self):
        # --flatten-order settles only what the metadata leaves open: File A's data_format and
        # File B's version decide whatever the option says (it had overridden them).
        d = tmpdir("br01_a_option")
        self.check(d, self.write(d, "2.2.4", {"data_format": "channels_first"}), [1, 3, 5, 7, 2, 4, 6, 8], 2.0,
                   "--flatten-order", "channels_first")
        d = tmpdir("br01_b_option")
        self.check(d, self.write(d, "2.1.5", {}), [1, 2, 3, 4, 5, 6, 7, 8], 5.0, "--flatten-order", "channels_last")

    def test_file_b_old_semantics(self):
        d = tmpdir("br01_b")
        self.check(d, self.write(d, "2.1.5", {}), [1, 2, 3, 4, 5, 6, 7, 8], 5.0)

    def test_no_version_no_data_format_is_an_ambiguity_error(self):
        d = tmpdir("br01_c")
        src = self.write(d, None, {})
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", check=3)
        self.assertIn("layer 'flatten_1'", p.stderr)
        self.assertIn("--flatten-order", p.stderr)
        p = run("run", src, "--input", d + "/x.npy", "-o", d + "/y.npy", check=None)
        self.check(d, src, [1, 3, 5, 7, 2, 4, 6, 8], 2.0, "--flatten-order", "channels_last")
        self.check(d, src, [1, 2, 3, 4, 5, 6, 7, 8], 5.0, "--flatten-order", "channels_first")

    def test_data_format_rewrite(self):
        """To channels_last Keras: File A's Flatten declares its input channels_first and its rows
        are already (H,W,C); File B has no layer that says which axis holds the channels: refused."""
        d = tmpdir("br01_df_a")
        src = self.write(d, "2.2.4", {"data_format": "channels_first"})
        run("convert", src, "--to", "keras", "-o", d + "/cl.h5", "--data-format", "channels_last", check=0)
        self.assertEqual(keras_weights(d + "/cl.h5")["dense_1"][0].reshape(-1).tolist(), list(range(1, 9)))
        self.assertEqual(model_config(d + "/cl.h5")["flatten_1"]["config"]["data_format"], "channels_last")
        self.assertAlmostEqual(float(run_model(d, [d + "/cl.h5"], to_last(BR01_X))[0, 0]), 2.0, places=5)
        d = tmpdir("br01_df_b")
        p = run("convert", self.write(d, "2.1.5", {}), "--to", "keras", "-o", d + "/cl.h5",
                "--data-format", "channels_last", check=3)
        self.assertIn("no layer of the model declares a data format", p.stderr)

    def test_channels_first_model_with_conv(self):
        """The same fault with a conv in front (the usual shape of the bug): a Conv2D 1x1 identity
        on 2 channels, then File A / File B Flatten semantics; MXNet rows and outputs as above."""
        eye = np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)
        for name, version, cfg, rows, out in (("a", "2.2.4", {"data_format": "channels_first"}, [1, 3, 5, 7, 2, 4, 6, 8], 2.0),
                                              ("b", "2.1.5", {}, [1, 2, 3, 4, 5, 6, 7, 8], 5.0)):
            d = tmpdir("br01_conv_" + name)
            write_model(d + "/m.h5", (2, 2, 2), [conv_layer("conv", 2, eye, "channels_first"),
                                                 ("Flatten", dict({"name": "flatten_1"}, **cfg), []),
                                                 dense_layer("dense_1", self.KERNEL)], version=version)
            self.check(d, d + "/m.h5", rows, out)


class BR04KerasMxnetInputLayout(unittest.TestCase):
    """failure-cases.md BR-04: channels_last Input (1,2,2) -> Conv2D 1x1 [1, 10] -> Flatten -> Dense
    [1, 100]; NHWC input pixel (0,0) = [1,2], (0,1) = [3,4]; output 4321. The exported symbol's
    declared input shape must fit the input it computes 4321 from, with a free batch axis."""

    def setUp(self):
        self.d = tmpdir("br04")
        self.src = self.d + "/m.h5"
        with h5py.File(self.src, "w") as f:
            cfg = {"class_name": "Model", "config": {"name": "m", "layers": [
                {"name": "in", "class_name": "InputLayer",
                 "config": {"name": "in", "batch_input_shape": [None, 1, 2, 2], "dtype": "float32"}, "inbound_nodes": []},
                {"name": "c", "class_name": "Conv2D",
                 "config": {"name": "c", "filters": 1, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid",
                            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
                            "use_bias": False}, "inbound_nodes": [[["in", 0, 0, {}]]]},
                {"name": "f", "class_name": "Flatten", "config": {"name": "f", "data_format": "channels_last"},
                 "inbound_nodes": [[["c", 0, 0, {}]]]},
                {"name": "d", "class_name": "Dense",
                 "config": {"name": "d", "units": 1, "activation": "linear", "use_bias": False},
                 "inbound_nodes": [[["f", 0, 0, {}]]]}],
                "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}
            f.attrs["model_config"] = json.dumps(cfg).encode()
            f.attrs["keras_version"] = b"2.1.6"
            f.attrs["backend"] = b"mxnet"
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"in", b"c", b"f", b"d"]
            for name, ws in (("in", []), ("c", [("kernel", np.array([1, 10], np.float32).reshape(1, 1, 2, 1))]),
                             ("f", []), ("d", [("kernel", np.array([[1], [100]], np.float32))])):
                lg = g.create_group(name)
                lg.attrs["weight_names"] = [("%s/%s:0" % (name, w)).encode() for w, _ in ws]
                for w, a in ws:
                    lg.create_dataset("%s/%s:0" % (name, w), data=a)
        self.x = np.array([[[[1, 2], [3, 4]]]], np.float32)  # NHWC (1, 1, 2, 2)

    def data_var(self, prefix):
        sym = load_json(prefix + "-symbol.json")
        return [sym["nodes"][i] for i in sym["arg_nodes"] if sym["nodes"][i]["name"] == "data"][0], sym

    def test_keras_output(self):
        self.assertAlmostEqual(float(run_model(self.d, [self.src], self.x)[0, 0]), 4321.0, places=3)

    def test_exported_as_nhwc(self):
        prefix = self.d + "/nhwc"
        run("convert", self.src, "--to", "mxnet", "-o", prefix, check=0)
        var, _ = self.data_var(prefix)
        self.assertEqual(var["attrs"]["__shape__"], "(0, 1, 2, 2)")  # NHWC dims, free batch
        self.assertNotEqual(var["attrs"].get("__layout__", "NHWC"), "NCHW")
        y = run_model(self.d, [prefix + "-symbol.json", prefix + "-0000.params"], self.x)
        self.assertAlmostEqual(float(y[0, 0]), 4321.0, places=3)

    def test_exported_as_nchw_with_data_format(self):
        prefix = self.d + "/nchw"
        run("convert", self.src, "--to", "mxnet", "-o", prefix, "--data-format", "channels_first", check=0)
        var, sym = self.data_var(prefix)
        self.assertEqual(var["attrs"]["__shape__"], "(0, 2, 1, 2)")  # NCHW dims, free batch
        self.assertNotEqual(var["attrs"].get("__layout__", "NCHW"), "NHWC")
        self.assertNotIn("transpose", [n["op"] for n in sym["nodes"]])  # native NCHW, nothing moved inside
        xt = to_first(self.x)  # (1, 2, 1, 2)
        p = ndarray_ref.load_dict(prefix + "-0000.params")
        conv = np.einsum("nchw,oc->nohw", xt.astype(np.float64), p["arg:c_weight"][:, :, 0, 0])
        self.assertAlmostEqual(float((conv.reshape(1, -1) @ p["arg:d_weight"].T)[0, 0]), 4321.0, places=3)
        y = run_model(self.d, [prefix + "-symbol.json", prefix + "-0000.params"], xt)
        self.assertAlmostEqual(float(y[0, 0]), 4321.0, places=3)


class RealFiles(unittest.TestCase):
    def test_keras1_theano_cnn_to_channels_last_keras2(self):
        from test_run_gold import K2C_GOLD, k2c_input
        d = tmpdir("dfmt_k2c")
        files = [fixture("keras1/k2c_mnist_cnn_th_weights.h5"), "--arch", fixture("keras1/k2c_mnist_cnn_th_arch.json")]
        run("convert", *files, "--kernel-flip", "yes", "--to", "keras", "-o", d + "/cl.h5",
            "--data-format", "channels_last", "--verify", check=0)
        cfg = model_config(d + "/cl.h5")
        inputs = [l for l in cfg.values() if l["class_name"] == "InputLayer"]
        self.assertEqual(inputs[0]["config"]["batch_input_shape"], [None, 28, 28, 1])
        self.assertTrue(all(l["config"].get("data_format", "channels_last") == "channels_last" for l in cfg.values()))
        y = run_model(d, [d + "/cl.h5"], to_last(k2c_input()))
        np.testing.assert_allclose(y[0], K2C_GOLD, rtol=0, atol=1e-5)

    def test_cnn_batch_norm_to_channels_first(self):
        """keras2/cnn_batch_norm.h5 (channels_last, gold predictions) rewritten channels_first."""
        d = tmpdir("dfmt_cbn")
        run("convert", fixture("keras2/cnn_batch_norm.h5"), "--to", "keras", "-o", d + "/cf.h5",
            "--data-format", "channels_first", check=0)
        cfg = model_config(d + "/cf.h5")
        bns = [l for l in cfg.values() if l["class_name"] == "BatchNormalization"]
        self.assertEqual([l["config"]["axis"] for l in bns], [1])
        x = np.load(fixture("keras2/cnn_batch_norm_input.npy"))
        gold = np.load(fixture("keras2/cnn_batch_norm_predictions.npy"))
        np.testing.assert_allclose(run_model(d, [d + "/cf.h5"], to_first(x)), gold, rtol=0, atol=1e-5)
        # and to an MXNet model that takes NCHW input with no transposes inside
        run("convert", fixture("keras2/cnn_batch_norm.h5"), "--to", "mxnet", "-o", d + "/mx",
            "--data-format", "channels_first", check=0)
        self.assertNotIn("transpose", [n["op"] for n in load_json(d + "/mx-symbol.json")["nodes"]])
        y = run_model(d, [d + "/mx-symbol.json", d + "/mx-0000.params"], to_first(x))
        np.testing.assert_allclose(y, gold, rtol=0, atol=1e-5)

    def test_prelu_12net_round_trip(self):
        d = tmpdir("dfmt_12net")
        src = fixture("keras2/prelu_12net.h5")
        run("convert", src, "--to", "keras", "-o", d + "/cf.h5", "--data-format", "channels_first", "--verify",
            "--input-shape", "12,12,3", check=0)
        run("convert", d + "/cf.h5", "--to", "keras", "-o", d + "/cl.h5", "--data-format", "channels_last", check=0)
        a, b = keras_weights(src), keras_weights(d + "/cl.h5")
        for layer, ws in a.items():
            self.assertEqual([w.tobytes() for w in ws], [w.tobytes() for w in b[layer]], layer)

    def test_keras_mxnet_export_to_channels_first_keras(self):
        d = tmpdir("dfmt_smile")
        files = [fixture("mxnet-module/smilecnn_kerasmxnet-symbol.json"), fixture("mxnet-module/smilecnn_kerasmxnet-0000.params")]
        run("convert", *files, "--to", "keras", "-o", d + "/cf.h5", "--data-format", "channels_first", "--verify", check=0)

    def test_reshape_from_dense_into_a_10_channel_image_is_refused(self):
        d = tmpdir("dfmt_b2c")
        p = run("convert", fixture("keras2/batch_to_conv2d_theano.h5"), "--to", "keras", "-o", d + "/cf.h5",
                "--data-format", "channels_first", check=3)
        self.assertIn("Reshape", p.stderr)


if __name__ == "__main__":
    unittest.main()
