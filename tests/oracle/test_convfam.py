"""Convolution family layers: Keras 2.2.4-layout models built here with h5py; `weightbridge run`
compared with numpy float64 implementations written from each layer's definition; conversion to
MXNet with --verify; Keras -> MXNet -> Keras gives back every weight byte for byte."""
import json
import unittest

import numpy as np

from test_convert import keras_weights
from wbtest import fixture, run, tmpdir, write_sequential

RNG = np.random.default_rng(7)


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def write_model(path, input_shape, layers):
    """layers: [(class, config, [(weight name, array)...])] as a Keras 2.2.4 Sequential file."""
    write_sequential(path, input_shape, layers)


def run_model(d, path, x):
    np.save(d + "/x.npy", x)
    run("run", path, "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
    return np.load(d + "/y.npy")


# ---- numpy float64 references (channels_last, batch first) ----

def conv_transpose(x, k, b, s, padding, op=None, dil=(1, 1)):
    """Scatter definition: x[n,i,j,c] * k[ti,tj,f,c] lands on (i*s+ti*d - crop, j*s+tj*d - crop)."""
    n, h, w, c = x.shape
    kh, kw, f, _ = k.shape
    outs, crops = [], []
    for L, kk, ss, dd, o in zip((h, w), (kh, kw), s, dil, op or (None, None)):
        dk = dd * (kk - 1) + 1
        if o is None:
            out = L * ss if padding == "same" else L * ss + max(dk - ss, 0)
        else:
            out = (L - 1) * ss + dk - 2 * (dk // 2 if padding == "same" else 0) + o
        crop = max((L - 1) * ss + dk - out, 0) // 2 if padding == "same" else 0
        outs.append(out)
        crops.append(crop)
    y = np.zeros((n, outs[0], outs[1], f))
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    for i in range(h):
        for j in range(w):
            for ti in range(kh):
                for tj in range(kw):
                    oi, oj = i * s[0] + ti * dil[0] - crops[0], j * s[1] + tj * dil[1] - crops[1]
                    if 0 <= oi < outs[0] and 0 <= oj < outs[1]:
                        y[:, oi, oj, :] += x64[:, i, j, :] @ k64[ti, tj].T
    return y + b


def pad_same(x, k, s):
    pads = []
    for L, kk, ss in zip(x.shape[1:3], k, s):
        out = -(-L // ss)
        tot = max((out - 1) * ss + kk - L, 0)
        pads.append((tot // 2, tot - tot // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def depthwise(x, dk, s, padding):
    kh, kw, c, m = dk.shape
    x = x.astype(np.float64)
    if padding == "same":
        x = pad_same(x, (kh, kw), s)
    oh, ow = (x.shape[1] - kh) // s[0] + 1, (x.shape[2] - kw) // s[1] + 1
    y = np.zeros((x.shape[0], oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * s[0]:i * s[0] + kh, j * s[1]:j * s[1] + kw, :]  # n, kh, kw, c
            y[:, i, j, :] = np.einsum("nhwc,hwcm->ncm", patch, dk).reshape(x.shape[0], c * m)
    return y


def layer_norm(x, axes, g, b, eps):
    mean = x.astype(np.float64).mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


class ConvFamily(unittest.TestCase):
    def check(self, name, input_shape, layers, ref, atol=1e-5, round_trip=True):
        d = tmpdir("convfam_" + name)
        path = d + "/m.h5"
        write_model(path, input_shape, layers)
        x = rnd(2, *input_shape)
        y = run_model(d, path, x)
        np.testing.assert_allclose(y, ref(x), rtol=0, atol=atol)
        run("convert", path, "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        if round_trip:
            run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5",
                "--verify", check=0)
            a, b = keras_weights(path), keras_weights(d + "/back.h5")
            for layer, ws in a.items():
                if not ws:
                    continue
                self.assertIn(layer, b)
                self.assertEqual([w.tobytes() for w in ws], [w.tobytes() for w in b[layer]], layer)
        return d

    def test_conv2d_transpose_same_odd(self):
        k, b = rnd(3, 2, 4, 3), rnd(4)
        cfg = {"filters": 4, "kernel_size": [3, 2], "strides": [2, 3], "padding": "same", "activation": "linear",
               "use_bias": True, "data_format": "channels_last"}
        self.check("deconv_same", (5, 4, 3), [("Conv2DTranspose", cfg, [("kernel", k), ("bias", b)])],
                   lambda x: conv_transpose(x, k, b, (2, 3), "same"))

    def test_conv2d_transpose_valid_output_padding(self):
        k, b = rnd(3, 4, 2, 3), rnd(2)
        cfg = {"filters": 2, "kernel_size": [3, 4], "strides": [2, 3], "padding": "valid", "output_padding": [1, 2],
               "activation": "relu", "use_bias": True}
        self.check("deconv_valid_op", (4, 3, 3), [("Conv2DTranspose", cfg, [("kernel", k), ("bias", b)])],
                   lambda x: np.maximum(conv_transpose(x, k, b, (2, 3), "valid", (1, 2)), 0))

    def test_depthwise_conv2d_multiplier(self):
        dk, b = rnd(3, 2, 3, 2), rnd(6)
        cfg = {"kernel_size": [3, 2], "strides": [1, 2], "padding": "same", "depth_multiplier": 2,
               "activation": "linear", "use_bias": True}
        self.check("depthwise", (6, 5, 3), [("DepthwiseConv2D", cfg, [("depthwise_kernel", dk), ("bias", b)])],
                   lambda x: depthwise(x, dk, (1, 2), "same") + b)

    def test_separable_conv2d(self):
        dk, pw, b = rnd(2, 3, 3, 2), rnd(1, 1, 6, 4), rnd(4)
        cfg = {"filters": 4, "kernel_size": [2, 3], "strides": [1, 1], "padding": "valid", "depth_multiplier": 2,
               "activation": "linear", "use_bias": True}
        self.check("separable", (5, 6, 3), [("SeparableConv2D", cfg, [("depthwise_kernel", dk),
                                                                         ("pointwise_kernel", pw), ("bias", b)])],
                   lambda x: depthwise(x, dk, (1, 1), "valid") @ pw[0, 0].astype(np.float64) + b)

    def test_prelu_shared_spatial(self):
        alpha = rnd(1, 1, 3)
        cfg = {"shared_axes": [1, 2]}
        self.check("prelu", (4, 5, 3), [("PReLU", cfg, [("alpha", alpha)])],
                   lambda x: np.where(x > 0, x, alpha * x.astype(np.float64)))

    def test_prelu_unshared_is_refused_for_mxnet(self):
        d = tmpdir("convfam_prelu_refuse")
        alpha = rnd(4, 5, 3)
        write_model(d + "/m.h5", (4, 5, 3), [("PReLU", {"shared_axes": None}, [("alpha", alpha)])])
        x = rnd(2, 4, 5, 3)
        np.testing.assert_allclose(run_model(d, d + "/m.h5", x), np.where(x > 0, x, alpha * x), rtol=0, atol=1e-6)
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", check=3)
        self.assertIn("per channel", p.stderr)

    def test_layer_normalization(self):
        g, b = rnd(7), rnd(7)
        cfg = {"axis": -1, "epsilon": 0.001, "center": True, "scale": True}
        self.check("layernorm", (3, 7), [("LayerNormalization", cfg, [("gamma", g), ("beta", b)])],
                   lambda x: layer_norm(x, (-1,), g, b, 1e-3))

    def test_cropping_upsampling(self):
        layers = [("Cropping2D", {"cropping": [[1, 0], [0, 2]]}, []),
                  ("UpSampling2D", {"size": [2, 3], "interpolation": "nearest"}, [])]
        self.check("crop_up", (5, 6, 2), layers,
                   lambda x: x[:, 1:, :4, :].repeat(2, axis=1).repeat(3, axis=2))


class BR06GroupedConv(unittest.TestCase):
    def test_grouped_conv_from_mxnet_predicts_exactly(self):
        """ResNeXt-like grouped conv: MXNet -> Keras, compared with a numpy grouped convolution."""
        d = tmpdir("convfam_br06")
        import struct
        w = rnd(6, 2, 3, 2)  # num_filter 6, in/groups 2 (4 channels, 2 groups), kernel (3, 2)
        b = rnd(6)
        sym = {"nodes": [{"op": "null", "name": "data", "inputs": []},
                         {"op": "null", "name": "gconv_weight", "inputs": []},
                         {"op": "null", "name": "gconv_bias", "inputs": []},
                         {"op": "Convolution", "name": "gconv", "attrs": {
                             "kernel": "(3, 2)", "num_filter": "6", "num_group": "2", "pad": "(1, 0)",
                             "stride": "(1, 1)", "no_bias": "False"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
               "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
               "attrs": {"mxnet_version": ["int", 10300]}}
        with open(d + "/g-symbol.json", "w") as f:
            json.dump(sym, f)
        write_params(d + "/g-0000.params", {"arg:gconv_weight": w, "arg:gconv_bias": b})
        run("convert", d + "/g-symbol.json", d + "/g-0000.params", "--to", "keras", "-o", d + "/g.h5",
            "--input-shape", "4,5,3", "--verify", check=0)
        x = rnd(2, 4, 5, 3)
        y = run_model(d, d + "/g.h5", x)
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (0, 0)))
        ref = np.zeros((2, 6, 5, 2))
        for f_ in range(6):
            g = f_ // 3
            for i in range(5):
                for j in range(2):
                    ref[:, f_, i, j] = np.einsum("ncij,cij->n", xp[:, 2 * g:2 * g + 2, i:i + 3, j:j + 2], w[f_]) + b[f_]
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)


def write_params(path, arrays):
    """MXNet NDArray list file (formats-mxnet.md): magic, names, V2 dense float32 arrays."""
    import struct
    out = bytearray(struct.pack("<QQQ", 0x112, 0, len(arrays)))
    for a in arrays.values():
        out += struct.pack("<IiI", 0xF993FAC9, 0, a.ndim) + struct.pack("<%dq" % a.ndim, *a.shape)
        out += struct.pack("<iii", 1, 0, 0) + np.ascontiguousarray(a, np.float32).tobytes()
    out += struct.pack("<Q", len(arrays))
    for k in arrays:
        out += struct.pack("<Q", len(k)) + k.encode()
    with open(path, "wb") as f:
        f.write(out)


class RealFixtures(unittest.TestCase):
    def test_fixtures_convert_to_mxnet_with_verify(self):
        for rel in ["tfkeras/conv2d_transpose.h5", "tfkeras/depthwise_conv2d.h5", "keras2/separable_conv2d.h5",
                    "keras2/prelu_12net.h5"]:
            d = tmpdir("convfam_real_" + rel.split("/")[1].split(".")[0])
            shape = ["--input-shape", "12,12,3"] if "prelu" in rel else []
            p = run("convert", fixture(rel), "--to", "mxnet", "-o", d + "/m", "--verify", *shape)
            self.assertEqual(p.returncode, 0, rel + "\n" + p.stdout + p.stderr)
            self.assertIn("verify: PASS", p.stdout, rel)


if __name__ == "__main__":
    unittest.main()
