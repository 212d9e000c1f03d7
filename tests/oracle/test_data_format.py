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
from wbtest import fixture, run, tmpdir

RNG = np.random.default_rng(11)


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def write_model(path, input_shape, layers, version="2.2.4", backend="tensorflow"):
    """layers: [(class, config, [(weight name, array)...])] as a Sequential file; version None
    leaves keras_version out (as Keras 1 and some converters do)."""
    cfg = []
    for i, (cls, c, _) in enumerate(layers):
        c = dict(c, name=c.get("name", "l%d" % i))
        if i == 0:
            c["batch_input_shape"] = [None] + list(input_shape)
        cfg.append({"class_name": cls, "config": c})
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": cfg}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [l["config"]["name"].encode() for l in cfg]
        for h in (f, g):
            if version is not None:
                h.attrs["keras_version"] = version.encode()
                h.attrs["backend"] = backend.encode()
        for l, (_, _, ws) in zip(cfg, layers):
            name = l["config"]["name"]
            lg = g.create_group(name)
            lg.attrs["weight_names"] = [("%s/%s:0" % (name, w)).encode() for w, _ in ws]
            for w, a in ws:
                lg.create_dataset("%s/%s:0" % (name, w), data=a)


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


if __name__ == "__main__":
    unittest.main()
