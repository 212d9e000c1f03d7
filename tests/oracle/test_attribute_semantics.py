"""Attributes that change what a layer computes are applied or refused, never ignored.

Findings of a breaker pass, each a silent wrong answer (exit 0): an MXNet slice's step was
ignored, Dropout(mode='always') ran as identity, a Keras ZeroPadding1D pair (left, right) was read
as symmetric padding. Fault class behind them: an attribute the reader does not interpret. The
MXNet reader now accounts for every attribute of every operator it reads (read, inert at
inference, or required at its neutral value), so any other attribute is refused. The 1-D Keras
layers without a data_format (ZeroPadding1D, Cropping1D, UpSampling1D) are written with their own
config form and refused on a channels_first tensor.

A second audit of the Keras reader found the same class in configs and calls: an Embedding mask
reaching pooling or attention (only recurrent layers refused it), a layer called with
training=True, Keras 3 call keywords (initial_state=, mask=) never read, LayerNormalization
rms_scaling, Keras 1 dim_ordering not seen by UpSampling2D/Cropping2D, Keras 1.2's four-number
ZeroPadding2D, and an activation given as a layer object read by its name. Expected values come
from numpy."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_break_new_ops import node, write_symbol
from test_rnn import ref_rnn
from wbtest import run, tmpdir, write_functional, write_keras3_functional, write_sequential

RS = np.random.RandomState(7)


def run_model(d, model_files, x):
    np.save(d + "/x.npy", x.astype(np.float32))
    run("run", *model_files, "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
    return np.load(d + "/y.npy")


class AttributeGate(unittest.TestCase):
    """MXNet: every attribute of a node is read, inert, or neutral; anything else is refused."""

    def sym(self, tag, nodes, pairs=()):
        d = tmpdir("attr_" + tag)
        write_symbol(d + "/m-symbol.json", nodes)
        ndarray_ref.save(d + "/m-0000.params", list(pairs))
        return d, [d + "/m-symbol.json", d + "/m-0000.params"]

    def refused(self, d, files, *words):
        for args in (["run", *files, "--input", d + "/x.npy", "-o", d + "/out.npy"],
                     ["convert", *files, "--to", "keras", "-o", d + "/out.h5"]):
            np.save(d + "/x.npy", np.zeros((2, 3, 4, 5), np.float32))
            p = run(*args)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertIn(files[0], lines[0])
            for w in words:
                self.assertIn(w, lines[0])
            self.assertEqual([f for f in os.listdir(d) if f.startswith("out")], [])

    def slice_nodes(self, step):
        return [node("null", "data", __shape__="(0, 3, 4, 5)"),
                node("slice", "crop", [0], begin="(None, None, 1, 0)", end="(None, None, 4, 5)", step=step)]

    def test_slice_step(self):
        for step in ("(1, 2, 1, 2)", "(None, None, None, -1)", "(None, None, None, 2)"):
            d, files = self.sym("slice_step", self.slice_nodes(step))
            self.refused(d, files, "step=" + step, "strided or reversed")
        # Unit steps are the plain slice: x[:, :, 1:4, :].
        d, files = self.sym("slice_unit", self.slice_nodes("(None, 1, 1, 1)"))
        x = RS.randn(2, 3, 4, 5)
        np.testing.assert_array_equal(run_model(d, files, x), x[:, :, 1:4, :].astype(np.float32))

    def test_dropout_mode(self):
        d, files = self.sym("dropout_always", [node("null", "data", __shape__="(0, 3, 4, 5)"),
                                               node("Dropout", "drop", [0], p="0.5", mode="always")])
        self.refused(d, files, "mode=always")
        d, files = self.sym("dropout_training", [node("null", "data", __shape__="(0, 3, 4, 5)"),
                                                 node("Dropout", "drop", [0], p="0.5", mode="training", axes="(2,)")])
        x = RS.randn(2, 3, 4, 5)
        np.testing.assert_array_equal(run_model(d, files, x), x.astype(np.float32))  # inference: identity

    def test_channel_last_pooling_layout(self):
        d, files = self.sym("pool_nhwc", [node("null", "data", __shape__="(0, 3, 4, 5)"),
                                          node("Pooling", "pool", [0], kernel="(2, 2)", stride="(2, 2)", pool_type="max",
                                               layout="NHWC")])
        self.refused(d, files, "layout=NHWC")

    def test_global_pooling_keeps_the_input_rank(self):
        # MXNet global pooling keeps every axis: (N, C, W) -> (N, C, 1), (N, C, D, H, W) -> (N, C, 1, 1, 1),
        # whatever its (ignored) kernel says; it had been taken as 2-D for a 1-D input or no kernel.
        for shape, kernel in (((2, 3, 12), "(2,)"), ((2, 3, 4, 5, 6), None)):
            attrs = dict(global_pool="True", pool_type="avg", **({"kernel": kernel} if kernel else {}))
            d, files = self.sym("global_pool_%d" % len(shape), [node("null", "data", __shape__="(0, %s)" % ", ".join(map(str, shape[1:]))),
                                                                  node("Pooling", "gp", [0], **attrs)])
            x = RS.randn(*shape)
            want = x.mean(axis=tuple(range(2, len(shape))), keepdims=True)
            np.testing.assert_allclose(run_model(d, files, x), want, rtol=1e-5, atol=1e-6)
            run("convert", *files, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
            with h5py.File(d + "/k.h5", "r") as f:
                layers = json.loads(f.attrs["model_config"])["config"]["layers"]
            self.assertEqual([l["class_name"] for l in layers[1:]], ["GlobalAveragePooling%dD" % (len(shape) - 2), "Reshape"])
            self.assertEqual(layers[2]["config"]["target_shape"], [-1] + [1] * (len(shape) - 2))
        d, files = self.sym("global_pool_unknown", [node("null", "data"), node("Pooling", "gp", [0], global_pool="True")])
        self.refused(d, files, "--input-shape")

    def test_padded_max_pooling_of_relu_output(self):
        # The model zoo's ResNet stem pools 3x3, stride 2, pad 1. MXNet leaves the padding out of
        # each window; after a ReLU a zero padding is the same, so the model converts; over values
        # that can be negative it has no Keras form and is refused.
        k = RS.randn(4, 3, 3, 3)
        nodes = [node("null", "data", __shape__="(0, 3, 8, 8)"), node("null", "c_weight"),
                 node("Convolution", "c", [0, 1], kernel="(3, 3)", pad="(1, 1)", num_filter="4", no_bias="True"),
                 node("Activation", "c_relu", [2], act_type="relu"),
                 node("Pooling", "pool", [3], kernel="(3, 3)", stride="(2, 2)", pad="(1, 1)", pool_type="max")]
        d, files = self.sym("resnet_stem", nodes, [("arg:c_weight", k)])
        x = RS.randn(2, 3, 8, 8).astype(np.float32)  # even: Keras 'same' would pad (0, 1), not (1, 1)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        y = np.maximum(np.einsum("nchwij,ocij->nohw", np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3)), k), 0)
        yp = np.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        want = np.lib.stride_tricks.sliding_window_view(yp, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))
        self.assertEqual(want.shape, (2, 4, 4, 4))
        np.testing.assert_allclose(run_model(d, files, x), want, rtol=1e-5, atol=1e-5)
        run("convert", *files, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        with h5py.File(d + "/k.h5", "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        pool = [l for l in layers if l["class_name"] == "MaxPooling2D"][0]
        self.assertEqual(pool["config"]["padding"], "valid")
        self.assertIn("ZeroPadding2D", [l["class_name"] for l in layers])
        np.testing.assert_allclose(run_model(d, [d + "/k.h5"], x), want, rtol=1e-5, atol=1e-5)
        d, files = self.sym("pool_signed", [nodes[0], node("Pooling", "pool", [0], kernel="(3, 3)", stride="(2, 2)",
                                                            pad="(1, 1)", pool_type="max")])
        self.refused(d, files, "no Keras equivalent")
        d, files = self.sym("pool_same_1d", [node("null", "data", __shape__="(0, 3, 5)"),
                                             node("Pooling", "pool", [0], kernel="(3,)", stride="(2,)", pool_type="max",
                                                  pooling_convention="same")])
        self.refused(d, files, "pooling_convention 'same' of a 1-D pooling")

    def test_unary_activation_ops(self):
        # relu, sigmoid, tanh, softsign written as their own ops (not Activation act_type=...)
        x = RS.randn(2, 3, 4, 5)
        refs = {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh,
                "softsign": lambda v: v / (1 + np.abs(v))}
        for op, ref in refs.items():
            d, files = self.sym("unary_" + op, [node("null", "data", __shape__="(0, 3, 4, 5)"), node(op, "act", [0])])
            np.testing.assert_allclose(run_model(d, files, x), ref(x.astype(np.float32)), rtol=1e-6, atol=1e-6)

    def test_legacy_softmax_label_and_axisless_transpose(self):
        # Softmax is SoftmaxOutput's old name: its label is not a model input.
        d, files = self.sym("legacy_softmax", [node("null", "data", __shape__="(0, 5)"), node("null", "softmax_label"),
                                               node("Softmax", "softmax", [0, 1])])
        x = RS.randn(3, 5)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(run_model(d, files, x), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
        d, files = self.sym("transpose_no_axes", [node("null", "data", __shape__="(0, 3, 4, 5)"), node("transpose", "t", [0])])
        self.refused(d, files, "transpose without axes")

    def fc(self, **attrs):
        return [node("null", "data", __shape__="(0, 3)"), node("null", "fc_weight"), node("null", "fc_bias"),
                node("FullyConnected", "fc", [0, 1, 2], num_hidden="2", **attrs)]

    def test_unknown_attribute_refused(self):
        w, b = RS.randn(2, 3), RS.randn(2)
        d, files = self.sym("fc_unknown", self.fc(colour="red"), [("arg:fc_weight", w), ("arg:fc_bias", b)])
        self.refused(d, files, "attribute 'colour'", "fc")
        d, files = self.sym("reshape_target", [node("null", "data", __shape__="(0, 3, 4, 5)"),
                                               node("Reshape", "r", [0], shape="(0, -1)", target_shape="(0, 60)")])
        self.refused(d, files, "target_shape")

    def test_hidden_and_inert_attributes_accepted(self):
        # Old writers' hidden keys without underscores (ctx_group, <input>_lr_mult), the new
        # form, and cuDNN-only settings change nothing: y = x W^T + b.
        w, b = RS.randn(2, 3), RS.randn(2)
        nodes = self.fc(ctx_group="dev1", weight_lr_mult="0.1", __wd_mult__="0", __profiler_scope__="fc:")
        d, files = self.sym("fc_hidden", nodes, [("arg:fc_weight", w), ("arg:fc_bias", b)])
        x = RS.randn(4, 3)
        w32, b32, x32 = (a.astype(np.float32) for a in (w, b, x))
        np.testing.assert_allclose(run_model(d, files, x), x32 @ w32.T + b32, rtol=1e-6, atol=1e-6)
        conv = [node("null", "data", __shape__="(0, 3, 6, 5)"), node("null", "c_weight"),
                node("Convolution", "c", [0, 1], kernel="(3, 2)", num_filter="4", no_bias="True", workspace="512",
                     cudnn_tune="fastest", cudnn_off="True")]
        k = RS.randn(4, 3, 3, 2)
        d, files = self.sym("conv_inert", conv, [("arg:c_weight", k)])
        x = RS.randn(2, 3, 6, 5).astype(np.float32)
        want = np.zeros((2, 4, 4, 4))
        for i in range(4):
            for j in range(4):
                want[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i:i + 3, j:j + 2], k)
        np.testing.assert_allclose(run_model(d, files, x), want, rtol=1e-5, atol=1e-5)


class OneDimensionalKerasLayers(unittest.TestCase):
    """ZeroPadding1D / Cropping1D / UpSampling1D: Keras' (before, after) pair and axis 1 only."""

    def test_zero_padding_1d_pair(self):
        x = RS.randn(2, 7, 3)
        for pad in ([2, 1], [0, 3], [3, 0], 2):
            d = tmpdir("zp1d")
            write_sequential(d + "/m.h5", (7, 3), [("ZeroPadding1D", {"padding": pad}, [])])
            lr = pad if isinstance(pad, list) else [pad, pad]
            np.testing.assert_array_equal(run_model(d, [d + "/m.h5"], x), np.pad(x, ((0, 0), lr, (0, 0))).astype(np.float32))
        # With a Conv1D after it (kernel (2, 3, 2), valid): length 7 + 2 + 1 - 1 = 9.
        k, bias = RS.randn(2, 3, 2), RS.randn(2)
        d = tmpdir("zp1d_conv")
        write_sequential(d + "/m.h5", (7, 3), [("ZeroPadding1D", {"padding": [2, 1]}, []),
                                               ("Conv1D", {"filters": 2, "kernel_size": [2], "padding": "valid", "use_bias": True,
                                                           "activation": "linear", "strides": [1], "dilation_rate": [1],
                                                           "data_format": "channels_last"},
                                                [("kernel", k), ("bias", bias)])])
        p = np.pad(x, ((0, 0), (2, 1), (0, 0))).astype(np.float32)
        want = np.stack([np.einsum("ntc,tcf->nf", p[:, t:t + 2], k) for t in range(9)], axis=1) + bias
        np.testing.assert_allclose(run_model(d, [d + "/m.h5"], x), want, rtol=1e-5, atol=1e-5)

    def test_keras_export_of_1d_layers(self):
        # MXNet (N, C, W) ops over W: refused as they are (Keras' 1-D layers act on axis 1),
        # written in Keras' own form with --data-format channels_last.
        x = RS.randn(2, 4, 8)
        cases = {
            "pad": (node("Pad", "pad", [0], mode="constant", pad_width="(0, 0, 0, 0, 2, 1)"), "ZeroPadding1D", "padding", [2, 1],
                    np.pad(x, ((0, 0), (0, 0), (2, 1)))),
            "crop": (node("slice", "crop", [0], begin="(None, None, 1)", end="(None, None, 6)"), "Cropping1D", "cropping",
                     [1, 2], x[:, :, 1:6]),
            "up": (node("repeat", "up", [0], repeats="3", axis="2"), "UpSampling1D", "size", 3, np.repeat(x, 3, axis=2)),
        }
        for tag, (op, cls, key, value, want) in cases.items():
            d = tmpdir("onedim_" + tag)
            write_symbol(d + "/m-symbol.json", [node("null", "data", __shape__="(0, 4, 8)"), op])
            ndarray_ref.save(d + "/m-0000.params", [])
            files = [d + "/m-symbol.json", d + "/m-0000.params"]
            np.testing.assert_array_equal(run_model(d, files, x), want.astype(np.float32))
            p = run("convert", *files, "--to", "keras", "-o", d + "/out.h5")
            self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
            self.assertIn(cls + " has no data_format", p.stderr)
            self.assertIn("--data-format channels_last", p.stderr)
            self.assertFalse(os.path.exists(d + "/out.h5"))
            run("convert", *files, "--to", "keras", "-o", d + "/k.h5", "--data-format", "channels_last", "--verify", check=0)
            with h5py.File(d + "/k.h5", "r") as f:
                layers = json.loads(f.attrs["model_config"])["config"]["layers"]
            cfg = [l for l in layers if l["class_name"] == cls][0]["config"]
            self.assertEqual(cfg[key], value)
            self.assertNotIn("data_format", cfg)
            got = run_model(d, [d + "/k.h5"], x.transpose(0, 2, 1))
            np.testing.assert_array_equal(got, want.transpose(0, 2, 1).astype(np.float32))



class KerasCallsAndConfigs(unittest.TestCase):
    def refused(self, path, d, *words):
        np.save(d + "/x.npy", np.zeros((2, 6), np.float32))
        p = run("run", path, "--input", d + "/x.npy", "-o", d + "/out.npy")
        lines = p.stderr.strip().splitlines()
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual(len(lines), 1, p.stderr)
        for w in words:
            self.assertIn(w, lines[0])
        self.assertFalse(os.path.exists(d + "/out.npy"))

    def test_embedding_mask_reaching_a_user(self):
        emb = RS.randn(10, 4)
        for cls, cfg in (("GlobalAveragePooling1D", {}), ("LSTM", {"units": 3}), ("Flatten", {})):
            d = tmpdir("mask_" + cls)
            ws = [("kernel", RS.randn(4, 12)), ("recurrent_kernel", RS.randn(3, 12)), ("bias", RS.randn(12))] if cls == "LSTM" else []
            write_sequential(d + "/m.h5", (6,), [("Embedding", {"input_dim": 10, "output_dim": 4, "mask_zero": True},
                                                 [("embeddings", emb)]), (cls, cfg, ws)])
            self.refused(d + "/m.h5", d, "mask of Embedding 'l0'", cls)
        # Through a Dense (which passes the mask on untouched) to the output: the values are plain.
        d = tmpdir("mask_dense")
        k, b = RS.randn(4, 2), RS.randn(2)
        write_sequential(d + "/m.h5", (6,), [("Embedding", {"input_dim": 10, "output_dim": 4, "mask_zero": True},
                                             [("embeddings", emb)]),
                                            ("Dense", {"units": 2, "activation": "linear", "use_bias": True},
                                             [("kernel", k), ("bias", b)])])
        idx = np.array([[0, 3, 9, 1, 0, 2], [5, 5, 0, 0, 0, 0]])
        np.testing.assert_allclose(run_model(d, [d + "/m.h5"], idx), emb[idx] @ k + b, rtol=1e-5, atol=1e-5)

    def test_called_with_training_true(self):
        d = tmpdir("bn_training")
        bn = [("gamma", RS.rand(6) + 0.5), ("beta", RS.randn(6)), ("moving_mean", RS.randn(6)), ("moving_variance", RS.rand(6) + 0.5)]
        write_functional(d + "/m.h5", [("in", (6,))], [("BatchNormalization", "bn", {"axis": -1, "epsilon": 1e-3}, ["in"], bn)],
                         ["bn"])
        with h5py.File(d + "/m.h5", "r+") as f:
            mc = json.loads(f.attrs["model_config"])
            mc["config"]["layers"][1]["inbound_nodes"] = [[["in", 0, 0, {"training": True}]]]
            f.attrs["model_config"] = json.dumps(mc).encode()
        self.refused(d + "/m.h5", d, "training=True")
        d = tmpdir("bn_training_k3")
        write_keras3_functional(d + "/m.h5", [("in", (6,))],
                                [("BatchNormalization", "bn", {"axis": -1, "epsilon": 1e-3}, [("T", "in")], {"training": True}, bn)],
                                ["bn"])
        self.refused(d + "/m.h5", d, "training=True")

    def test_keras3_call_keywords(self):
        T, C, U = 5, 3, 4
        k, r, b = RS.randn(C, 4 * U), RS.randn(U, 4 * U), RS.randn(4 * U)
        d = tmpdir("k3_initial_state")
        lstm = {"units": U, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
                "return_sequences": True}
        write_keras3_functional(d + "/m.h5", [("x", (T, C)), ("h0", (U,)), ("c0", (U,))],
                                [("LSTM", "lstm", lstm, [("T", "x")], {"initial_state": [("T", "h0"), ("T", "c0")]},
                                  [("kernel", k), ("recurrent_kernel", r), ("bias", b)])], ["lstm"])
        x, h0, c0 = RS.randn(2, T, C), RS.randn(2, U), RS.randn(2, U)
        for name, a in (("x", x), ("h0", h0), ("c0", c0)):
            np.save("%s/%s.npy" % (d, name), a.astype(np.float32))
        run("run", d + "/m.h5", "--input", d + "/x.npy", "--input", d + "/h0.npy", "--input", d + "/c0.npy",
            "-o", d + "/y.npy", check=0)
        want = ref_rnn("lstm", x, k, r, b, ra="sigmoid", seq=True, h0=h0, c0=c0)
        np.testing.assert_allclose(np.load(d + "/y.npy"), want, rtol=1e-4, atol=1e-5)
        d = tmpdir("k3_mask_kw")
        write_keras3_functional(d + "/m.h5", [("x", (T, C)), ("m", (T,))],
                                [("LSTM", "lstm", lstm, [("T", "x")], {"mask": ("T", "m")},
                                  [("kernel", k), ("recurrent_kernel", r), ("bias", b)])], ["lstm"])
        self.refused(d + "/m.h5", d, "call keyword 'mask'")

    def test_layer_normalization_rms_scaling(self):
        d = tmpdir("ln_rms")
        write_sequential(d + "/m.h5", (6,), [("LayerNormalization", {"axis": -1, "epsilon": 1e-3, "center": False, "scale": True,
                                                                     "rms_scaling": True}, [("gamma", RS.randn(6))])],
                         version="3.3.3")
        self.refused(d + "/m.h5", d, "rms_scaling")

    def test_activation_given_as_a_layer_object(self):
        d = tmpdir("act_object")
        write_sequential(d + "/m.h5", (6,), [("Dense", {"units": 2, "use_bias": False, "activation": {
            "class_name": "ReLU", "config": {"name": "relu", "max_value": 1.0}}}, [("kernel", RS.randn(6, 2))])])
        self.refused(d + "/m.h5", d, "ReLU", "layer object")

    def test_keras1_dim_ordering_and_four_number_padding(self):
        x = RS.randn(1, 2, 3, 4)  # th: (N, C, H, W)
        d = tmpdir("k1_upsampling")
        write_sequential(d + "/m.h5", (2, 3, 4), [("UpSampling2D", {"size": [2, 3], "dim_ordering": "th"}, [])], version=None)
        want = np.repeat(np.repeat(x, 2, axis=2), 3, axis=3)
        np.testing.assert_array_equal(run_model(d, [d + "/m.h5"], x), want.astype(np.float32))
        d = tmpdir("k1_cropping")
        write_sequential(d + "/m.h5", (2, 3, 4), [("Cropping2D", {"cropping": [[1, 0], [1, 2]], "dim_ordering": "th"}, [])],
                         version=None)
        np.testing.assert_array_equal(run_model(d, [d + "/m.h5"], x), x[:, :, 1:, 1:2].astype(np.float32))
        d = tmpdir("k1_zeropadding")
        xt = RS.randn(1, 3, 4, 2)  # tf: (N, H, W, C)
        write_sequential(d + "/m.h5", (3, 4, 2), [("ZeroPadding2D", {"padding": [1, 2, 3, 4], "dim_ordering": "tf"}, [])],
                         version=None)
        want = np.pad(xt, ((0, 0), (1, 2), (3, 4), (0, 0)))
        np.testing.assert_array_equal(run_model(d, [d + "/m.h5"], xt), want.astype(np.float32))



class MxnetWriterVersionsAndDtypes(unittest.TestCase):
    """Findings of an MXNet writer audit: a float16 model's BatchNorm parameters must stay float32
    (MXNet's BatchNorm type rule) and its data input must say float16; the attr dialect is read by
    MXNet 0.12 only, so what 0.12 lacks is refused."""

    def test_float16_batchnorm(self):
        d = tmpdir("mx_f16_bn")
        rs = np.random.RandomState(5)
        write_sequential(d + "/m.h5", (6, 6, 3), [
            ("Conv2D", {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
                        "dilation_rate": [1, 1], "activation": "linear", "use_bias": True},
             [("kernel", rs.randn(3, 3, 3, 4).astype(np.float16)), ("bias", rs.randn(4).astype(np.float16))]),
            ("BatchNormalization", {"axis": -1, "epsilon": 1e-3, "center": True, "scale": True},
             [(r, (rs.rand(4) + 0.5).astype(np.float16)) for r in ("gamma", "beta", "moving_mean", "moving_variance")])])
        run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", "--verify", check=0)
        with open(d + "/mx-symbol.json") as f:
            sym = json.load(f)
        dtypes = {n["name"]: n.get("attrs", {}).get("__dtype__") for n in sym["nodes"] if n["op"] == "null"}
        self.assertEqual(dtypes["data"], "2")  # float16
        self.assertEqual(dtypes["l0_weight"], "2")
        params = ndarray_ref.load_dict(d + "/mx-0000.params")
        for name in ("arg:l1_gamma", "arg:l1_beta", "aux:l1_moving_mean", "aux:l1_moving_var"):
            self.assertIsNone(dtypes[name[4:]])
            self.assertEqual(params[name].dtype, np.float32)
        with h5py.File(d + "/m.h5", "r") as f:  # widened exactly
            np.testing.assert_array_equal(params["arg:l1_gamma"], np.array(f["model_weights/l1/l1/gamma:0"]).astype(np.float32))
        self.assertEqual(params["arg:l0_weight"].dtype, np.float16)

    def test_attr_dialect_refuses_what_mxnet_0_12_lacks(self):
        d = tmpdir("mx_attr_dialect")
        write_sequential(d + "/m.h5", (5, 5, 2), [("AveragePooling2D", {"pool_size": [2, 2], "strides": [2, 2], "padding": "same",
                                                                        "data_format": "channels_last"}, [])])
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", "--symbol-dialect", "attr")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("count_include_pad (MXNet 1.3)", p.stderr)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))
        run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/mx", check=0)  # the 1.x dialect has it


if __name__ == "__main__":
    unittest.main()
