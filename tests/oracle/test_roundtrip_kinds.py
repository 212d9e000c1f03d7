"""Every weight-carrying layer kind, Keras -> MXNet -> Keras.

Each model is a Keras 2.2.4 full-model .h5 written here with h5py, with non-square, non-symmetric
shapes (kernels 3x2, channels 3 -> 5, 4 units from 7 inputs ...) filled with distinct random values.
For each: `convert --to mxnet --verify`, then the MXNet pair `--to keras --verify`; every weight
of the round-tripped .h5 must be byte-identical to the original (matched by layer and weight role),
and one tensor per kind is checked in the MXNet params (read with ndarray_ref) against the
original with the layout rule applied here in numpy.
"""
import os
import re
import unittest

import numpy as np

import ndarray_ref
from wbtest import keras_weight_list, run, tmpdir, write_sequential

RNG = np.random.default_rng(20240611)


def distinct(*shape):
    """Random float32 values, all different (a permutation of evenly spaced values, jittered)."""
    n = int(np.prod(shape))
    v = (RNG.permutation(n) + 1 + RNG.uniform(0.05, 0.45, n)) / n * RNG.choice([-1.0, 1.0], n)
    return v.astype(np.float32).reshape(shape)


def positive(*shape):
    return (np.abs(distinct(*shape)) + 0.5).astype(np.float32)


def write_model(path, input_shape, layers):
    """layers: [(class, config, [(role, array)])] -> Sequential Keras 2.2.4 full-model file."""
    write_sequential(path, input_shape, layers, nested=True)


def weights_by_role(path):
    """{(layer, role): array} from a Keras 2 .h5, role = weight name without '<layer>/' and ':0'."""
    out = {}
    for ln, n, a in keras_weight_list(path):
        role = n[len(ln) + 1:] if n.startswith(ln + "/") else n
        role = role[:-2] if role.endswith(":0") else role
        # Bidirectional: forward_<inner layer name>/kernel; MXNet does not keep the inner
        # layer's name, so the direction and the weight are the role.
        out[(ln, re.sub(r"^(forward|backward)_[^/]+/", r"\1/", role))] = a
    return out


def dense_cfg(name, units, **kw):
    return dict({"name": name, "units": units, "activation": "linear", "use_bias": True}, **kw)


def conv_cfg(name, filters, kernel, **kw):
    r = len(kernel)
    return dict({"name": name, "filters": filters, "kernel_size": list(kernel), "strides": [1] * r,
                 "padding": "valid", "dilation_rate": [1] * r, "activation": "linear", "use_bias": True,
                 "data_format": "channels_last"}, **kw)


def rnn_cfg(name, units, **kw):
    return dict({"name": name, "units": units, "activation": "tanh", "recurrent_activation": "sigmoid",
                 "use_bias": True, "return_sequences": False, "go_backwards": False, "stateful": False}, **kw)


def depthwise_to_mxnet(dk):
    """(kh, kw, C, M) -> grouped Convolution weight (C*M, 1, kh, kw): output c*M+m uses dk[..., c, m]."""
    kh, kw, c, m = dk.shape
    return dk.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]


def gru_rows_to_mxnet(k):
    """Keras GRU gate blocks z, r, h (columns) -> MXNet r, z, n, transposed to (3u, in)."""
    u = k.shape[1] // 3
    return np.concatenate([k[:, u:2 * u], k[:, :u], k[:, 2 * u:]], 1).T


# name -> (input shape, layers, [(layer, role, mxnet param, numpy layout rule)]); a rule maps the
# original Keras array to what the MXNet param must hold (for fused RNNs: a leading slice of the
# flat vector).
def kinds():
    k = {}
    w = {"kernel": distinct(7, 4), "bias": distinct(4)}
    k["dense"] = ((7,), [("Dense", dense_cfg("dense", 4), list(w.items()))],
                  [("dense", "kernel", "arg:dense_weight", lambda a: a.T)])
    w = {"kernel": distinct(3, 3, 5), "bias": distinct(5)}
    k["conv1d"] = ((8, 3), [("Conv1D", conv_cfg("conv1d", 5, [3]), list(w.items()))],
                   [("conv1d", "kernel", "arg:conv1d_weight", lambda a: a.transpose(2, 1, 0))])
    w = {"kernel": distinct(3, 2, 3, 5), "bias": distinct(5)}
    k["conv2d"] = ((6, 5, 3), [("Conv2D", conv_cfg("conv2d", 5, [3, 2]), list(w.items()))],
                   [("conv2d", "kernel", "arg:conv2d_weight", lambda a: a.transpose(3, 2, 0, 1))])
    w = {"kernel": distinct(3, 2, 2, 3, 5), "bias": distinct(5)}
    k["conv3d"] = ((5, 4, 3, 3), [("Conv3D", conv_cfg("conv3d", 5, [3, 2, 2]), list(w.items()))],
                   [("conv3d", "kernel", "arg:conv3d_weight", lambda a: a.transpose(4, 3, 0, 1, 2))])
    w = {"kernel": distinct(3, 2, 2, 6), "bias": distinct(6)}  # (kh, kw, in/groups, filters): 4 channels, 2 groups
    k["conv2d_groups"] = ((6, 5, 4), [("Conv2D", conv_cfg("gconv", 6, [3, 2], groups=2), list(w.items()))],
                          [("gconv", "kernel", "arg:gconv_weight", lambda a: a.transpose(3, 2, 0, 1))])
    w = {"kernel": distinct(3, 2, 5, 3), "bias": distinct(5)}  # (kh, kw, filters, in)
    k["conv2d_transpose"] = ((4, 3, 3), [("Conv2DTranspose", conv_cfg("deconv", 5, [3, 2], strides=[2, 1]),
                                          list(w.items()))],
                             [("deconv", "kernel", "arg:deconv_weight", lambda a: a.transpose(3, 2, 0, 1))])
    dc = conv_cfg("dwconv", 0, [3, 2], depth_multiplier=2)
    del dc["filters"]
    w = {"depthwise_kernel": distinct(3, 2, 3, 2), "bias": distinct(6)}
    k["depthwise_conv2d"] = ((6, 5, 3), [("DepthwiseConv2D", dc, list(w.items()))],
                             [("dwconv", "depthwise_kernel", "arg:dwconv_weight", depthwise_to_mxnet)])
    w = {"depthwise_kernel": distinct(3, 2, 3, 2), "pointwise_kernel": distinct(1, 1, 6, 5), "bias": distinct(5)}
    k["separable_conv2d"] = ((6, 5, 3), [("SeparableConv2D", conv_cfg("sep", 5, [3, 2], depth_multiplier=2),
                                          list(w.items()))],
                             [("sep", "depthwise_kernel", None, depthwise_to_mxnet),
                              ("sep", "pointwise_kernel", None, lambda a: a.transpose(3, 2, 0, 1))])
    for tag, scale, center in (("bn", True, True), ("bn_noscale", False, True), ("bn_nocenter", True, False),
                               ("bn_neither", False, False)):
        ws = ([("gamma", positive(5))] if scale else []) + ([("beta", distinct(5))] if center else [])
        ws += [("moving_mean", distinct(5)), ("moving_variance", positive(5))]
        cfg = {"name": tag, "axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": center, "scale": scale}
        k["batchnorm_" + tag] = ((4, 3, 5), [("BatchNormalization", cfg, ws)],
                                 [(tag, "moving_mean", "aux:%s_moving_mean" % tag, lambda a: a),
                                  (tag, "moving_variance", "aux:%s_moving_var" % tag, lambda a: a)] +
                                 ([(tag, "gamma", "arg:%s_gamma" % tag, lambda a: a)] if scale else []))
    k["embedding"] = ((6,), [("Embedding", {"name": "emb", "input_dim": 11, "output_dim": 4, "input_length": 6},
                              [("embeddings", distinct(11, 4))])],
                      [("emb", "embeddings", "arg:emb_weight", lambda a: a)])
    k["prelu"] = ((4, 3, 5), [("PReLU", {"name": "prelu", "shared_axes": [1, 2]}, [("alpha", distinct(1, 1, 5))])],
                  [("prelu", "alpha", None, lambda a: a.reshape(5))])
    k["layer_normalization"] = ((3, 7), [("LayerNormalization", {"name": "ln", "axis": -1, "epsilon": 0.001,
                                                                  "center": True, "scale": True},
                                          [("gamma", distinct(7)), ("beta", distinct(7))])],
                                [("ln", "gamma", "arg:ln_gamma", lambda a: a)])
    k["simple_rnn"] = ((5, 7), [("SimpleRNN", rnn_cfg("srnn", 4), [("kernel", distinct(7, 4)),
                                                                    ("recurrent_kernel", distinct(4, 4)),
                                                                    ("bias", distinct(4))])],
                       [("srnn", "kernel", "arg:srnn_parameters", lambda a: a.T)])
    k["lstm"] = ((5, 7), [("LSTM", rnn_cfg("lstm", 4), [("kernel", distinct(7, 16)), ("recurrent_kernel", distinct(4, 16)),
                                                        ("bias", distinct(16))])],
                 [("lstm", "kernel", "arg:lstm_parameters", lambda a: a.T)])
    k["gru"] = ((5, 7), [("GRU", rnn_cfg("gru", 4, reset_after=True),
                          [("kernel", distinct(7, 12)), ("recurrent_kernel", distinct(4, 12)), ("bias", distinct(2, 12))])],
                [("gru", "kernel", "arg:gru_parameters", gru_rows_to_mxnet)])
    inner = rnn_cfg("inner", 4, return_sequences=True)
    k["bidirectional_lstm"] = ((5, 7), [("Bidirectional", {"name": "bidi", "merge_mode": "concat",
                                                           "layer": {"class_name": "LSTM", "config": inner}},
                                         [("forward_inner/kernel", distinct(7, 16)),
                                          ("forward_inner/recurrent_kernel", distinct(4, 16)),
                                          ("forward_inner/bias", distinct(16)),
                                          ("backward_inner/kernel", distinct(7, 16)),
                                          ("backward_inner/recurrent_kernel", distinct(4, 16)),
                                          ("backward_inner/bias", distinct(16))])],
                                [("bidi", "forward/kernel", "arg:bidi_parameters", lambda a: a.T)])
    return k


class RoundTripKinds(unittest.TestCase):
    def test_every_kind_round_trips_byte_exactly(self):
        for tag, (shape, layers, checks) in kinds().items():
            with self.subTest(kind=tag):
                self.round_trip(tag, shape, layers, checks)

    def round_trip(self, tag, shape, layers, checks):
        d = tmpdir("rtk_" + tag)
        src = os.path.join(d, "m.h5")
        write_model(src, shape, layers)
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        p = run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        a, b = weights_by_role(src), weights_by_role(d + "/back.h5")
        self.assertEqual(sorted(a), sorted(b))  # the same weights, by layer and role: nothing added or dropped
        for key, arr in a.items():
            self.assertEqual(b[key].dtype, arr.dtype, key)
            self.assertEqual(b[key].shape, arr.shape, key)
            self.assertEqual(b[key].tobytes(), arr.tobytes(), key)
        params = ndarray_ref.load_dict(d + "/mx-0000.params")
        for layer, role, name, rule in checks:
            want = np.ascontiguousarray(rule(a[(layer, role)]))
            if name is None:  # the tensor's name is the exporter's choice: find it by content
                hits = [k for k, v in params.items() if v.shape == want.shape and v.tobytes() == want.tobytes()]
                self.assertEqual(len(hits), 1, (layer, role, {k: v.shape for k, v in params.items()}))
            elif name.endswith("_parameters"):  # fused RNN: the first block of the flat vector
                flat = params[name]
                self.assertEqual(flat[:want.size].tobytes(), want.ravel().tobytes(), (layer, role))
            else:
                self.assertEqual(params[name].shape, want.shape, name)
                self.assertEqual(params[name].tobytes(), want.tobytes(), name)


if __name__ == "__main__":
    unittest.main()
