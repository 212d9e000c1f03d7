"""Failure cases from docs/failure-cases.md that concern reading and converting (the expected
values are the cases' own). Files are built here with h5py / by hand as each case describes."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_convert import keras_weights
from wbtest import run, tmpdir

write_params = ndarray_ref.save

KERNEL = np.array([[0.5], [-1.0]], np.float32)
BIAS = np.array([0.25], np.float32)
X = np.array([[2.0, 4.0]], np.float32)
DENSE_CONFIG = {"class_name": "Sequential", "config": [
    {"class_name": "Dense", "config": {"name": "dense_1", "units": 1, "activation": "linear", "use_bias": True,
                                       "batch_input_shape": [None, 2]}}]}


def mx_dense_output(prefix, layer="dense_1"):
    p = ndarray_ref.load_dict(prefix + "-0000.params")
    return float((X @ p["arg:%s_weight" % layer].T + p["arg:%s_bias" % layer])[0, 0]), p


def write_dense_group(g, layer, names, paths):
    lg = g.require_group(layer)
    lg.attrs["weight_names"] = [n.encode() for n in names]
    lg.create_dataset(paths[0], data=KERNEL)
    lg.create_dataset(paths[1], data=BIAS)


class BR23LayoutVariants(unittest.TestCase):
    def test_three_layouts_same_params(self):
        d = tmpdir("br23")
        with open(d + "/arch.json", "w") as f:
            json.dump(DENSE_CONFIG, f)
        with h5py.File(d + "/a.h5", "w") as f:  # (a) weights only
            f.attrs["layer_names"] = [b"dense_1"]
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.2.4"
            write_dense_group(f, "dense_1", ["dense_1/kernel:0", "dense_1/bias:0"],
                              ["dense_1/kernel:0", "dense_1/bias:0"])
        with h5py.File(d + "/b.h5", "w") as f:  # (b) full model with optimizer state
            f.attrs["model_config"] = json.dumps(DENSE_CONFIG).encode()
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["training_config"] = b'{"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {}}}'
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense_1"]
            g.attrs["backend"] = b"tensorflow"
            g.attrs["keras_version"] = b"2.2.4"
            write_dense_group(g, "dense_1", ["dense_1/kernel:0", "dense_1/bias:0"],
                              ["dense_1/kernel:0", "dense_1/bias:0"])
            o = f.create_group("optimizer_weights")
            o.attrs["weight_names"] = [b"Adam/iterations:0", b"training/Adam/Variable:0"]
            o.create_dataset("Adam/iterations:0", data=np.int64(7))
            o.create_dataset("training/Adam/Variable:0", data=np.ones((2, 1), np.float32))
        with h5py.File(d + "/c.h5", "w") as f:  # (c) Keras 0.x
            f.attrs["nb_layers"] = 1
            g = f.create_group("layer_0")
            g.attrs["nb_params"] = 2
            g.create_dataset("param_0", data=KERNEL)
            g.create_dataset("param_1", data=BIAS)
        run("convert", d + "/a.h5", "--arch", d + "/arch.json", "--to", "mxnet", "-o", d + "/a", "--verify", check=0)
        run("convert", d + "/b.h5", "--to", "mxnet", "-o", d + "/b", "--verify", check=0)
        ya, pa = mx_dense_output(d + "/a")
        yb, pb = mx_dense_output(d + "/b")
        self.assertAlmostEqual(ya, -2.75, places=6)
        self.assertAlmostEqual(yb, -2.75, places=6)
        self.assertEqual(sorted(pa), sorted(pb))  # optimizer state ignored
        # Keras 0.x: positional groups, converted with the architecture
        doc = json.loads(run("inspect", "--json", d + "/c.h5", check=0).stdout)["files"][0]
        self.assertEqual(doc["layout"], "keras0")
        run("convert", d + "/c.h5", "--arch", d + "/arch.json", "--to", "mxnet", "-o", d + "/c", "--verify", check=0)
        yc, pc = mx_dense_output(d + "/c")
        self.assertAlmostEqual(yc, -2.75, places=6)
        for k in pa:
            self.assertEqual(pa[k].tobytes(), pc[k].tobytes())


class BR15Keras2VsKeras3Names(unittest.TestCase):
    def build(self, path, version, names, paths, top_level=False):
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = version.encode()
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(
                {"class_name": "Sequential", "config": {"name": "s", "layers": [
                    {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [None, 2]}},
                    {"class_name": "Dense", "config": {"name": "dense", "units": 1, "use_bias": True}}]}}).encode()
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense"]
            g.attrs["keras_version"] = version.encode()
            g.attrs["backend"] = b"tensorflow"
            write_dense_group(g, "dense", names, paths)
            if top_level:
                t = g.create_group("top_level_model_weights")
                t.attrs["weight_names"] = np.zeros((0,), np.float64)

    def test_same_params_from_both_generations(self):
        d = tmpdir("br15")
        self.build(d + "/k2.h5", "2.15.0", ["dense/kernel:0", "dense/bias:0"], ["dense/kernel:0", "dense/bias:0"])
        self.build(d + "/k3.h5", "3.3.3", ["kernel", "bias"], ["kernel", "bias"], top_level=True)
        run("convert", d + "/k2.h5", "--to", "mxnet", "-o", d + "/a", "--verify", check=0)
        run("convert", d + "/k3.h5", "--to", "mxnet", "-o", d + "/b", "--verify", check=0)
        ya, pa = mx_dense_output(d + "/a", "dense")
        yb, pb = mx_dense_output(d + "/b", "dense")
        self.assertAlmostEqual(ya, -2.75, places=6)
        for k in pa:
            self.assertEqual(pa[k].tobytes(), pb[k].tobytes())

    def test_duplicate_short_names_refused(self):
        d = tmpdir("br15dup")
        with h5py.File(d + "/dup.h5", "w") as f:
            f.attrs["layer_names"] = [b"block"]
            f.attrs["keras_version"] = b"3.3.3"
            f.attrs["backend"] = b"tensorflow"
            g = f.create_group("block")
            g.attrs["weight_names"] = [b"kernel", b"kernel"]
            g.create_dataset("kernel", data=KERNEL)
        p = run("inspect", d + "/dup.h5")
        self.assertEqual(p.returncode, 3)
        self.assertIn("duplicate weight names", p.stderr)
        self.assertIn("block", p.stderr)


class BR28OfflineExport(unittest.TestCase):
    def test_no_training_config_and_with_optimizer(self):
        d = tmpdir("br28")
        for name, opt in (("plain", False), ("opt", True)):
            with h5py.File(d + "/%s.h5" % name, "w") as f:
                f.attrs["keras_version"] = b"2.2.4"
                f.attrs["backend"] = b"mxnet"
                f.attrs["model_config"] = json.dumps(DENSE_CONFIG).encode()
                g = f.create_group("model_weights")
                g.attrs["layer_names"] = [b"dense_1"]
                g.attrs["keras_version"] = b"2.2.4"
                g.attrs["backend"] = b"mxnet"
                write_dense_group(g, "dense_1", ["dense_1/kernel1", "dense_1/bias1"], ["dense_1/kernel1", "dense_1/bias1"])
                if opt:
                    o = f.create_group("optimizer_weights")
                    o.attrs["weight_names"] = [b"Adam/iterations:0", b"m_0", b"v_0"]
                    o.create_dataset("Adam/iterations:0", data=np.int64(3))
                    o.create_dataset("m_0", data=np.zeros((2, 1), np.float32))
                    o.create_dataset("v_0", data=np.zeros((2, 1), np.float32))
            run("convert", d + "/%s.h5" % name, "--to", "mxnet", "-o", d + "/" + name, "--verify", check=0)
            y, p = mx_dense_output(d + "/" + name)
            self.assertAlmostEqual(y, -2.75, places=6)
            self.assertEqual(sorted(p), ["arg:dense_1_bias", "arg:dense_1_weight"])
            sym = json.load(open(d + "/%s-symbol.json" % name))
            data = [n for n in sym["nodes"] if n["name"] == "data"][0]
            self.assertEqual(data["attrs"]["__shape__"], "(0, 2)")  # free batch size


SYM_1X = {"nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "bn0_gamma", "inputs": []},
    {"op": "null", "name": "bn0_beta", "inputs": []},
    {"op": "null", "name": "bn0_moving_mean", "inputs": []},
    {"op": "null", "name": "bn0_moving_var", "inputs": []},
    {"op": "BatchNorm", "name": "bn0", "attrs": {"fix_gamma": "True", "eps": "0.001", "axis": "1",
                                                 "use_global_stats": "False"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 1], [4, 0, 1]]}],
    "arg_nodes": [0, 1, 2, 3, 4], "node_row_ptr": [0, 1, 2, 3, 4, 5, 8], "heads": [[5, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10600]}}


class BR11FixGamma(unittest.TestCase):
    def test_stored_gamma_replaced_by_one(self):
        d = tmpdir("br11")
        sym = json.loads(json.dumps(SYM_1X))
        sym["nodes"][0]["attrs"] = {"__shape__": "(1, 2, 1, 1)"}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        write_params(d + "/m-0000.params", [("arg:bn0_gamma", [2.0, 0.5]), ("arg:bn0_beta", [0.1, -0.1]),
                                            ("aux:bn0_moving_mean", [1.0, -1.0]), ("aux:bn0_moving_var", [4.0, 0.25])])
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        self.assertIn("fix_gamma", p.stdout)  # the override is reported
        gamma, beta, mean, var = keras_weights(d + "/k.h5")["bn0"]
        np.testing.assert_array_equal(gamma, [1.0, 1.0])
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        bn = [l for l in cfg["config"]["layers"] if l["class_name"] == "BatchNormalization"][0]["config"]
        self.assertEqual(bn["epsilon"], 0.001)
        self.assertEqual(bn["axis"], 1)
        # the case's expected inference output, computed from what was written
        x = np.array([3.0, 0.0])
        y = (x - mean) / np.sqrt(var + bn["epsilon"]) * gamma + beta
        np.testing.assert_allclose(y, [1.099875, 1.896012], atol=1e-5)


class BR16SymbolDialects(unittest.TestCase):
    def test_three_dialects_convert_identically(self):
        d = tmpdir("br16")
        modern = {"nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "fc1_weight", "inputs": []},
            {"op": "null", "name": "fc1_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "2"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
            {"op": "null", "name": "softmax_label", "inputs": []},
            {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}],
            "arg_nodes": [0, 1, 2, 4], "node_row_ptr": [0, 1, 2, 3, 4, 5, 6], "heads": [[5, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10600]}}
        attr = json.loads(json.dumps(modern))
        for n in attr["nodes"]:
            if "attrs" in n:
                n["attr"] = n.pop("attrs")
        attr["attrs"]["mxnet_version"] = ["int", 1100]
        legacy = {"nodes": [], "arg_nodes": [0, 1, 2, 4], "heads": [[5, 0]]}
        for n in modern["nodes"]:
            m = {"op": n["op"], "param": n.get("attrs", {}), "name": n["name"],
                 "inputs": [e[:2] for e in n["inputs"]], "backward_source_id": -1}
            legacy["nodes"].append(m)
        w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
        outs = []
        for name, sym in (("modern", modern), ("attr", attr), ("legacy", legacy)):
            json.dump(sym, open(d + "/%s-symbol.json" % name, "w"))
            write_params(d + "/%s-0000.params" % name, [("arg:fc1_weight", w), ("arg:fc1_bias", [0.5, -0.5])])
            run("convert", d + "/%s-symbol.json" % name, d + "/%s-0000.params" % name, "--to", "keras",
                "--input-shape", "3", "-o", d + "/%s.h5" % name, check=0)
            outs.append(keras_weights(d + "/%s.h5" % name)["fc1"])
        for o in outs:
            np.testing.assert_array_equal(o[0], w.T)
            np.testing.assert_array_equal(o[1], [0.5, -0.5])

    def test_unknown_node_key_named(self):
        d = tmpdir("br16bad")
        sym = {"nodes": [{"op": "null", "name": "data", "inputs": [], "foo": 1}], "arg_nodes": [0], "heads": [[0, 0, 0]]}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        p = run("inspect", d + "/m-symbol.json")
        self.assertEqual(p.returncode, 3)
        self.assertIn("foo", p.stderr)
        self.assertIn("m-symbol.json", p.stderr)



class BR17GluonNaming(unittest.TestCase):
    SYM = {"nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "mlp0_dense0_weight", "attrs": {"__shape__": "(1, 2)"}, "inputs": []},
        {"op": "null", "name": "mlp0_dense0_bias", "attrs": {"__shape__": "(1,)"}, "inputs": []},
        {"op": "FullyConnected", "name": "mlp0_dense0_fwd", "attrs": {"num_hidden": "1", "flatten": "True"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
        "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10600]}}

    def test_all_naming_schemes_give_the_same_layer(self):
        d = tmpdir("br17")
        json.dump(self.SYM, open(d + "/m-symbol.json", "w"))
        w, b = [[0.5, -1.0]], [0.25]
        schemes = {"p1": ("arg:mlp0_dense0_weight", "arg:mlp0_dense0_bias"), "p2": ("mlp0_dense0_weight", "mlp0_dense0_bias"),
                   "p2s": ("dense0_weight", "dense0_bias"), "p3": ("layer.weight", "layer.bias"),
                   "p4": ("mlp1_dense0_weight", "mlp1_dense0_bias")}
        for name, (kw, kb) in schemes.items():
            with self.subTest(scheme=name):
                write_params(d + "/%s.params" % name, [(kw, w), (kb, b)])
                p = run("convert", d + "/m-symbol.json", d + "/%s.params" % name, "--input-shape", "2",
                        "--to", "keras", "-o", d + "/%s.h5" % name, check=0)
                kernel, bias = keras_weights(d + "/%s.h5" % name)["mlp0_dense0"]
                self.assertAlmostEqual(float((X @ kernel + bias)[0, 0]), -2.75, places=6)
                if name in ("p3", "p4"):
                    self.assertIn("by graph position", p.stdout)
        # writing for MXNet: keys are arg: + the symbol's variable names, one per variable
        run("convert", d + "/p3.h5", "--to", "mxnet", "-o", d + "/back", "--verify", check=0)
        sym = json.load(open(d + "/back-symbol.json"))
        params = ndarray_ref.load_dict(d + "/back-0000.params")
        variables = {n["name"] for n in sym["nodes"] if n["op"] == "null" and n["name"] != "data"}
        self.assertEqual({k[4:] for k in params}, variables)


# ---------------------------------------------------------------------------------------------
# Helpers for the cases below: Keras files as each case describes them, and numpy references.

def keras_file(path, layers, weights, version="2.2.4", backend="tensorflow", weights_group_attrs=True):
    """Sequential full-model .h5. layers: Keras layer dicts; weights: {layer: [(dataset name, array)]}.
    version/backend None leaves the attribute out; weights_group_attrs=False writes them on the
    root only (a Keras 1 full save)."""
    with h5py.File(path, "w") as f:
        for key, val in (("keras_version", version), ("backend", backend)):
            if val is not None:
                f.attrs[key] = val.encode()
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [l["config"]["name"].encode() for l in layers]
        for key, val in (("keras_version", version), ("backend", backend)):
            if val is not None and weights_group_attrs:
                g.attrs[key] = val.encode()
        for l in layers:
            name = l["config"]["name"]
            lg = g.create_group(name)
            ws = weights.get(name, [])
            lg.attrs["weight_names"] = [n.encode() for n, _ in ws] if ws else np.zeros((0,), np.float64)
            for n, a in ws:
                lg.create_dataset(n, data=a)


def run_on(d, files, x, *extra):
    np.save(d + "/x.npy", x)
    run("run", *files, "--input", d + "/x.npy", "-o", d + "/y.npy", *extra, check=0)
    return np.load(d + "/y.npy")


def mx(prefix):
    return [prefix + "-symbol.json", prefix + "-0000.params"]


def one_line_error(test, p, code, path):
    test.assertEqual(p.returncode, code, p.stdout + p.stderr)
    lines = p.stderr.strip().splitlines()
    test.assertEqual(len(lines), 1, p.stderr)
    test.assertTrue(lines[0].startswith("weightbridge: " + path + ": "), lines[0])
    return lines[0]


def conv_nchw(x, k):
    """Valid cross-correlation, NC + spatial input, kernel (out, in, k...), float64."""
    x, k = x.astype(np.float64), k.astype(np.float64)
    sp = k.shape[2:]
    out = [a - b + 1 for a, b in zip(x.shape[2:], sp)]
    y = np.zeros((x.shape[0], k.shape[0], *out))
    for idx in np.ndindex(*out):
        window = x[(slice(None), slice(None)) + tuple(slice(i, i + s) for i, s in zip(idx, sp))]
        y[(slice(None), slice(None)) + idx] = np.tensordot(window, k, axes=(list(range(1, 2 + len(sp))),
                                                                             list(range(1, 2 + len(sp)))))
    return y


def conv2d_cfg(name, filters, kernel, df, shape=None, **kw):
    c = dict({"name": name, "filters": filters, "kernel_size": list(kernel), "strides": [1] * len(kernel),
              "padding": "valid", "data_format": df, "dilation_rate": [1] * len(kernel), "activation": "linear",
              "use_bias": False}, **kw)
    if shape:
        c["batch_input_shape"] = [None] + list(shape)
    return c


class BR03KernelLayout(unittest.TestCase):
    """BR-03: th vs tf kernel order, keras-mxnet's OIHW kernels, Theano's flipped kernels."""
    K = np.fromfunction(lambda o, i, h, w: 1000 * o + 100 * i + 10 * h + w, (2, 2, 2, 2)).astype(np.float32)

    def fixture_a(self, path, backend="mxnet", version="2.2.4"):
        layers = [{"class_name": "Conv2D", "config": conv2d_cfg("conv2d_1", 2, [2, 2], "channels_first", (2, 2, 2))}]
        keras_file(path, layers, {"conv2d_1": [("conv2d_1/kernel:0", self.K)]}, version, backend)

    def test_a_kerasmxnet_oihw_kernel(self):
        d = tmpdir("br03a")
        self.fixture_a(d + "/a.h5")
        x = np.ones((1, 2, 2, 2), np.float32)
        np.testing.assert_array_equal(run_on(d, [d + "/a.h5"], x).ravel(), [444, 8444])  # HWIO reading: [4440, 4448]
        run("convert", d + "/a.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        w = ndarray_ref.load_dict(d + "/m-0000.params")["arg:conv2d_1_weight"]
        self.assertEqual(w.tobytes(), self.K.tobytes())  # the stored OIHW tensor, unchanged
        np.testing.assert_array_equal(run_on(d, mx(d + "/m"), x).ravel(), [444, 8444])
        run("convert", d + "/a.h5", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        np.testing.assert_array_equal(keras_weights(d + "/k.h5")["conv2d_1"][0], self.K.transpose(2, 3, 1, 0))

    def test_a_without_backend_symmetric_shape_is_ambiguous(self):
        d = tmpdir("br03a_nometa")
        self.fixture_a(d + "/a.h5", backend=None)
        p = run("convert", d + "/a.h5", "--to", "mxnet", "-o", d + "/m")
        line = one_line_error(self, p, 3, d + "/a.h5")
        self.assertIn("layer 'conv2d_1'", line)
        self.assertIn("--kernel-layout keras|mxnet", line)
        self.assertFalse(os.path.exists(d + "/m-0000.params"))
        x = np.ones((1, 2, 2, 2), np.float32)
        for layout, want in (("mxnet", [444, 8444]), ("keras", [4440, 4448])):
            run("convert", d + "/a.h5", "--to", "mxnet", "-o", d + "/" + layout, "--kernel-layout", layout, "--verify", check=0)
            np.testing.assert_array_equal(run_on(d, mx(d + "/" + layout), x).ravel(), want)

    def test_a_class_without_backend_shape_decides(self):
        """Same fault, non-square shapes: a kernel that fits only one order is read in that order."""
        d = tmpdir("br03a_shape")
        rng = np.random.default_rng(3)
        k = rng.standard_normal((5, 3, 3, 2)).astype(np.float32)  # (out, in, kh, kw)
        x = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
        want = conv_nchw(x, k)
        for name, stored in (("oihw", k), ("hwio", k.transpose(2, 3, 1, 0))):
            layers = [{"class_name": "Conv2D", "config": conv2d_cfg("c", 5, [3, 2], "channels_first", (3, 6, 4))}]
            keras_file(d + "/%s.h5" % name, layers, {"c": [("c/kernel:0", stored)]}, backend=None)
            p = run("convert", d + "/%s.h5" % name, "--to", "mxnet", "-o", d + "/" + name, "--verify", check=0)
            self.assertEqual("keras-mxnet (out, in, k...) order" in p.stdout, name == "oihw")
            np.testing.assert_allclose(run_on(d, mx(d + "/" + name), x), want, atol=1e-4)

    def test_a_class_kerasmxnet_conv1d_and_depthwise(self):
        """keras-mxnet channels_first Conv1D (filters, in, k) and DepthwiseConv2D (in, mult, kh, kw)."""
        d = tmpdir("br03a_kinds")
        rng = np.random.default_rng(5)
        k1 = rng.standard_normal((4, 3, 3)).astype(np.float32)
        x1 = rng.standard_normal((2, 3, 7)).astype(np.float32)
        layers = [{"class_name": "Conv1D", "config": conv2d_cfg("c1", 4, [3], "channels_first", (3, 7))}]
        keras_file(d + "/c1.h5", layers, {"c1": [("c1/kernel1", k1)]}, "2.2.4.2", "mxnet")
        run("convert", d + "/c1.h5", "--to", "mxnet", "-o", d + "/c1", "--verify", check=0)
        self.assertEqual(ndarray_ref.load_dict(d + "/c1-0000.params")["arg:c1_weight"].tobytes(), k1.tobytes())
        np.testing.assert_allclose(run_on(d, mx(d + "/c1"), x1), conv_nchw(x1, k1), atol=1e-4)
        dk = rng.standard_normal((3, 2, 3, 2)).astype(np.float32)  # (in, mult, kh, kw)
        x2 = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
        cfg = conv2d_cfg("dw", 0, [3, 2], "channels_first", (3, 5, 4), depth_multiplier=2)
        del cfg["filters"]
        keras_file(d + "/dw.h5", [{"class_name": "DepthwiseConv2D", "config": cfg}], {"dw": [("dw/depthwise_kernel1", dk)]},
                   "2.2.4.2", "mxnet")
        run("convert", d + "/dw.h5", "--to", "mxnet", "-o", d + "/dw", "--verify", check=0)
        want = np.concatenate([conv_nchw(x2[:, c:c + 1], dk[c][:, None]) for c in range(3)], 1)  # output c*2+m
        np.testing.assert_allclose(run_on(d, mx(d + "/dw"), x2), want, atol=1e-4)

    def theano_file(self, path, w, backend="theano", shape=(1, 2, 2)):
        cfg = {"name": "convolution2d_1", "nb_filter": w.shape[0], "nb_row": w.shape[2], "nb_col": w.shape[3],
               "dim_ordering": "th", "border_mode": "valid", "subsample": [1, 1], "activation": "linear", "bias": False,
               "batch_input_shape": [None] + list(shape)}
        keras_file(path, [{"class_name": "Convolution2D", "config": cfg}],
                   {"convolution2d_1": [("convolution2d_1_W", w)]}, "1.2.2", backend, weights_group_attrs=False)

    def test_b_theano_kernel_is_flipped(self):
        d = tmpdir("br03b")
        self.theano_file(d + "/t.h5", np.float32([[[[1, 2], [3, 4]]]]))
        x = np.float32([[[[1, 0], [0, 0]]]])
        self.assertEqual(float(run_on(d, [d + "/t.h5"], x).ravel()[0]), 4.0)  # a plain copy gives 1
        run("convert", d + "/t.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        np.testing.assert_array_equal(ndarray_ref.load_dict(d + "/m-0000.params")["arg:convolution2d_1_weight"],
                                      [[[[4, 3], [2, 1]]]])
        self.assertEqual(float(run_on(d, mx(d + "/m"), x).ravel()[0]), 4.0)

    def test_b_class_backend_decides_and_non_square_theano_kernel(self):
        d = tmpdir("br03b_class")
        # a TensorFlow-written Keras 1 file: correlation already, no flip
        self.theano_file(d + "/tf.h5", np.float32([[[[1, 2], [3, 4]]]]), backend="tensorflow")
        x = np.float32([[[[1, 0], [0, 0]]]])
        self.assertEqual(float(run_on(d, [d + "/tf.h5"], x).ravel()[0]), 1.0)
        # Theano, 3 filters over 2 channels, 3x2 kernel: true convolution = correlation with the kernel rotated
        rng = np.random.default_rng(11)
        w = rng.standard_normal((3, 2, 3, 2)).astype(np.float32)
        self.theano_file(d + "/th.h5", w, shape=(2, 5, 4))
        x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
        want = conv_nchw(x, w[:, :, ::-1, ::-1])
        np.testing.assert_allclose(run_on(d, [d + "/th.h5"], x), want, atol=1e-4)
        run("convert", d + "/th.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        np.testing.assert_array_equal(ndarray_ref.load_dict(d + "/m-0000.params")["arg:convolution2d_1_weight"],
                                      w[:, :, ::-1, ::-1])


class BR06GroupedConvCase(unittest.TestCase):
    """BR-06: the case's own grouped convolution, MXNet -> Keras Conv2D(groups=2)."""

    def test_grouped_conv_values(self):
        d = tmpdir("br06")
        sym = {"nodes": [{"op": "null", "name": "data", "attrs": {"__shape__": "(1, 4, 1, 1)"}, "inputs": []},
                         {"op": "null", "name": "gconv_weight", "inputs": []},
                         {"op": "Convolution", "name": "gconv", "attrs": {"num_filter": "4", "num_group": "2",
                                                                          "kernel": "(1, 1)", "no_bias": "True"},
                          "inputs": [[0, 0, 0], [1, 0, 0]]}],
               "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]],
               "attrs": {"mxnet_version": ["int", 10200]}}
        json.dump(sym, open(d + "/g-symbol.json", "w"))
        w = np.float32([[1, 2], [11, 12], [21, 22], [31, 32]]).reshape(4, 2, 1, 1)
        write_params(d + "/g-0000.params", [("arg:gconv_weight", w)])
        x = np.float32([1, 2, 3, 4]).reshape(1, 4, 1, 1)
        np.testing.assert_array_equal(run_on(d, mx(d + "/g"), x).ravel(), [5, 35, 151, 221])  # interleaved: [7, 70, 87, 190]
        run("convert", *mx(d + "/g"), "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        with h5py.File(d + "/k.h5", "r") as f:
            layer = [l for l in json.loads(f.attrs["model_config"])["config"]["layers"] if l["name"] == "gconv"][0]
        self.assertEqual(layer["config"]["groups"], 2)
        kernel = keras_weights(d + "/k.h5")["gconv"][0]
        self.assertEqual(kernel.shape, (1, 1, 2, 4))
        np.testing.assert_array_equal(kernel, w.transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(run_on(d, [d + "/k.h5"], x).ravel(), [5, 35, 151, 221])


BN_X = np.float32([3, 0]).reshape(1, 1, 1, 2)
BN_WANT = [1.099875, 1.896012]


def bn_file(path, arrays, names, version="2.2.4", backend="tensorflow", scale=False, center=True, axis=-1, shape=(1, 1, 2)):
    cfg = {"name": "bn", "axis": axis, "center": center, "scale": scale, "epsilon": 0.001, "momentum": 0.99,
           "batch_input_shape": [None] + list(shape)}
    keras_file(path, [{"class_name": "BatchNormalization", "config": cfg}],
               {"bn": [("bn/" + n, np.asarray(a, np.float32)) for n, a in zip(names, arrays)]}, version, backend)


class BR13BatchNormScaleFalse(unittest.TestCase):
    """BR-13: BatchNormalization(scale=False) stores 3 arrays; keras-mxnet stores 4."""

    def test_a_three_arrays_to_mxnet(self):
        d = tmpdir("br13a")
        bn_file(d + "/a.h5", [[0.1, -0.1], [1, -1], [4, 0.25]], ["beta:0", "moving_mean:0", "moving_variance:0"])
        np.testing.assert_allclose(run_on(d, [d + "/a.h5"], BN_X).ravel(), BN_WANT, atol=1e-5)
        run("convert", d + "/a.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        p = ndarray_ref.load_dict(d + "/m-0000.params")
        np.testing.assert_array_equal(p["arg:bn_gamma"], [1, 1])
        bn = [n for n in json.load(open(d + "/m-symbol.json"))["nodes"] if n["op"] == "BatchNorm"][0]
        self.assertEqual(bn["attrs"]["fix_gamma"], "True")
        self.assertEqual(bn["attrs"]["eps"], "0.001")
        np.testing.assert_allclose(run_on(d, mx(d + "/m"), BN_X).ravel(), BN_WANT, atol=1e-5)
        # and back: scale=False again, the same three arrays
        run("convert", *mx(d + "/m"), "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        back, orig = keras_weights(d + "/k.h5")["bn"], keras_weights(d + "/a.h5")["bn"]
        self.assertEqual([a.tobytes() for a in back], [a.tobytes() for a in orig])  # beta, mean, variance

    def test_b_kerasmxnet_gamma_dropped_with_warning(self):
        d = tmpdir("br13b")
        bn_file(d + "/b.h5", [[1.3, 0.7], [0.1, -0.1], [1, -1], [4, 0.25]],
                ["gamma1", "beta1", "moving_mean1", "moving_variance1"], "2.2.4.2", "mxnet")
        p = run("convert", d + "/b.h5", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        warn = [l for l in p.stdout.splitlines() if l.startswith("warning:")]
        self.assertEqual(len(warn), 1, p.stdout)
        self.assertIn("layer bn", warn[0])
        self.assertIn("discarded the stored gamma bn/gamma1 = [1.3, 0.7]", warn[0])
        beta, mean, var = keras_weights(d + "/k.h5")["bn"]
        np.testing.assert_array_equal(beta, np.float32([0.1, -0.1]))
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])["config"]["layers"][-1]["config"]
        self.assertFalse(cfg["scale"])
        np.testing.assert_allclose(run_on(d, [d + "/k.h5"], BN_X).ravel(), BN_WANT, atol=1e-5)

    def test_weight_count_mismatch_names_the_arrays(self):
        d = tmpdir("br13_count")
        bn_file(d + "/four.h5", [[1.3, 0.7], [0.1, -0.1], [1, -1], [4, 0.25]],
                ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"])  # TF file: no keras-mxnet excuse
        line = one_line_error(self, run("convert", d + "/four.h5", "--to", "mxnet", "-o", d + "/m"), 4, d + "/four.h5")
        self.assertIn("layer 'bn': expects 3 weights (beta, moving_mean, moving_variance) but the file has 4: "
                      "bn/gamma:0 (2,), bn/beta:0 (2,), bn/moving_mean:0 (2,), bn/moving_variance:0 (2,)", line)
        bn_file(d + "/two.h5", [[0.1, -0.1], [1, -1]], ["beta:0", "moving_mean:0"])
        line = one_line_error(self, run("convert", d + "/two.h5", "--to", "mxnet", "-o", d + "/m"), 4, d + "/two.h5")
        self.assertIn("but the file has 2: bn/beta:0 (2,), bn/moving_mean:0 (2,)", line)
        self.assertFalse(os.path.exists(d + "/m-0000.params"))

    def test_class_center_false_and_channels_first(self):
        """Same class: keras-mxnet center=False (beta 0 dropped, beta != 0 refused), and a channels_first
        BN over 5 channels with a trained gamma under scale=False."""
        d = tmpdir("br13_class")
        bn_file(d + "/c0.h5", [[1.5, 0.5], [0, 0], [1, -1], [4, 0.25]], ["gamma1", "beta1", "moving_mean1", "moving_variance1"],
                "2.2.4.2", "mxnet", scale=True, center=False)
        run("convert", d + "/c0.h5", "--to", "keras", "-o", d + "/c0k.h5", "--verify", check=0)
        gamma, mean, var = keras_weights(d + "/c0k.h5")["bn"]
        np.testing.assert_array_equal(gamma, np.float32([1.5, 0.5]))
        bn_file(d + "/c1.h5", [[1.5, 0.5], [0.2, 0], [1, -1], [4, 0.25]], ["gamma1", "beta1", "moving_mean1", "moving_variance1"],
                "2.2.4.2", "mxnet", scale=True, center=False)
        line = one_line_error(self, run("convert", d + "/c1.h5", "--to", "keras", "-o", d + "/c1k.h5"), 4, d + "/c1.h5")
        self.assertIn("center=False but the stored beta bn/beta1 ([0.2, 0]) is not all 0", line)
        rng = np.random.default_rng(13)
        g, b, m, v = rng.uniform(0.5, 2, 5), rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)
        bn_file(d + "/cf.h5", [g, b, m, v], ["gamma1", "beta1", "moving_mean1", "moving_variance1"], "2.2.4.2", "mxnet",
                axis=1, shape=(5, 3, 2))
        p = run("convert", d + "/cf.h5", "--to", "mxnet", "-o", d + "/cf", "--verify", check=0)
        self.assertIn("discarded the stored gamma", p.stdout)
        x = rng.standard_normal((2, 5, 3, 2)).astype(np.float32)
        c = (slice(None), None, None)
        want = (x - m.astype(np.float32)[c]) / np.sqrt(v.astype(np.float32)[c] + 1e-3) + b.astype(np.float32)[c]
        np.testing.assert_allclose(run_on(d, mx(d + "/cf"), x), want, atol=1e-5)


def f16_params(path, named):
    """NDArray list file keeping each array's dtype (flag 0 float32, 1 float64, 2 float16)."""
    import struct
    flags = {np.dtype("float32"): 0, np.dtype("float64"): 1, np.dtype("float16"): 2}
    out = struct.pack("<QQQ", 0x112, 0, len(named))
    for _, a in named:
        a = np.ascontiguousarray(a)
        out += struct.pack("<Iii", 0xF993FAC9, 0, a.ndim) + struct.pack("<%dq" % a.ndim, *a.shape)
        out += struct.pack("<iii", 1, 0, flags[a.dtype]) + a.tobytes()
    out += struct.pack("<Q", len(named))
    for n, _ in named:
        out += struct.pack("<Q", len(n)) + n.encode()
    open(path, "wb").write(out)


GLUON_DENSE = {"nodes": [
    {"op": "null", "name": "data", "attrs": {"__shape__": "(0, 2)"}, "inputs": []},
    {"op": "null", "name": "dense0_weight", "attrs": {"__shape__": "(2, 2)"}, "inputs": []},
    {"op": "null", "name": "dense0_bias", "attrs": {"__shape__": "(2,)"}, "inputs": []},
    {"op": "FullyConnected", "name": "dense0_fwd", "attrs": {"num_hidden": "2", "flatten": "True"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
    "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10600]}}


def dense_file(path, kernel, name="d"):
    cfg = {"name": name, "units": kernel.shape[1], "use_bias": False, "activation": "linear",
           "batch_input_shape": [None, kernel.shape[0]]}
    keras_file(path, [{"class_name": "Dense", "config": cfg}], {name: [(name + "/kernel:0", kernel)]})


class BR19Float16(unittest.TestCase):
    """BR-19: a float16 parameter file and a float32 network."""
    W = np.float16([[1.0, 65504.0], [0.00006103515625, -2.0]])
    B = np.float16([0.5, 0.0])

    def test_fp16_params_to_keras_kept_or_upcast_exactly(self):
        d = tmpdir("br19")
        json.dump(GLUON_DENSE, open(d + "/g-symbol.json", "w"))
        f16_params(d + "/g-0000.params", [("arg:dense0_weight", self.W), ("arg:dense0_bias", self.B)])
        p = run("convert", *mx(d + "/g"), "--to", "keras", "-o", d + "/keep.h5", "--verify", check=0)
        self.assertIn("dense0/kernel:0 (2, 2) float16", p.stdout)  # says what was done: kept float16
        kernel, bias = keras_weights(d + "/keep.h5")["dense0"]
        self.assertEqual(kernel.dtype, np.float16)
        self.assertEqual(kernel.tobytes(), np.ascontiguousarray(self.W.T).tobytes())
        self.assertEqual(bias.tobytes(), self.B.tobytes())
        with h5py.File(d + "/keep.h5", "r") as f:
            dense = [l for l in json.loads(f.attrs["model_config"])["config"]["layers"] if l["name"] == "dense0"][0]
        self.assertEqual(dense["config"]["dtype"], "float16")
        p = run("convert", *mx(d + "/g"), "--to", "keras", "-o", d + "/f32.h5", "--dtype", "float32", "--verify", check=0)
        self.assertIn("cast float16->float32", p.stdout)
        self.assertNotIn("warning:", p.stdout)  # an exact upcast
        kernel, bias = keras_weights(d + "/f32.h5")["dense0"]
        self.assertEqual(kernel.dtype, np.float32)
        self.assertEqual(kernel.tobytes(), np.ascontiguousarray(self.W.T.astype(np.float32)).tobytes())
        self.assertEqual(bias.tobytes(), self.B.astype(np.float32).tobytes())

    def test_float32_to_fp16_overflow_refused(self):
        d = tmpdir("br19_rev")
        dense_file(d + "/r.h5", np.float32([[70000.0], [1e-8]]))
        p = run("convert", d + "/r.h5", "--to", "mxnet", "-o", d + "/m", "--dtype", "float16")
        line = one_line_error(self, p, 3, d + "/r.h5")
        self.assertIn("tensor 'd/kernel:0'", line)
        self.assertIn("1 of 2 values overflow to inf (largest |x| 70000) and 1 underflow to 0", line)
        self.assertFalse(os.path.exists(d + "/m-0000.params"))

    def test_class_underflow_only_is_reported_with_counts(self):
        """Same class: another tensor (a conv kernel) whose small values vanish in float16."""
        d = tmpdir("br19_under")
        k = np.float32([1e-9, -3e-8, 0.5, 2.0, -1e-10, 0.25]).reshape(1, 1, 2, 3)
        layers = [{"class_name": "Conv2D", "config": conv2d_cfg("c", 3, [1, 1], "channels_last", (2, 2, 2))}]
        keras_file(d + "/c.h5", layers, {"c": [("c/kernel:0", k)]})
        p = run("convert", d + "/c.h5", "--to", "mxnet", "-o", d + "/m", "--dtype", "float16", check=0)
        k16 = k.astype(np.float16)
        changed = int(np.sum(k16.astype(np.float32) != k))
        zeros = int(np.sum((k16 == 0) & (k != 0)))
        warn = [l for l in p.stdout.splitlines() if l.startswith("warning: tensor c/kernel:0")]
        self.assertEqual(len(warn), 1, p.stdout)
        self.assertIn("cast float32->float16 changes %d of 6 values" % changed, warn[0])
        self.assertIn("%d non-zero values become 0" % zeros, warn[0])
        w = ndarray_ref.load_dict(d + "/m-0000.params")["arg:c_weight"]
        self.assertEqual(w.dtype, np.float16)
        self.assertEqual(w.tobytes(), np.ascontiguousarray(k16.transpose(3, 2, 0, 1)).tobytes())


class BR21Float64(unittest.TestCase):
    """BR-21: float64 weights must stay float64 unless a cast is asked for, which reports its error."""
    K = np.float64([[1 + 2 ** -30]])

    def test_float64_kept_and_cast_reported(self):
        d = tmpdir("br21")
        dense_file(d + "/d.h5", self.K)
        x = np.float64([[2 ** 30]])
        self.assertEqual(float((x @ self.K)[0, 0]), 1073741825.0)  # the case's float64 result
        p = run("convert", d + "/d.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        self.assertNotIn("warning:", p.stdout)
        w = ndarray_ref.load_dict(d + "/m-0000.params")["arg:d_weight"]
        self.assertEqual(w.dtype, np.float64)  # flag 1
        self.assertEqual(w.tobytes(), self.K.T.tobytes())
        self.assertEqual(float((x @ w.T)[0, 0]), 1073741825.0)
        # asked to cast: the rounding is reported with its size
        p = run("convert", d + "/d.h5", "--to", "mxnet", "-o", d + "/m32", "--dtype", "float32", check=0)
        err = abs(float(np.float32(self.K[0, 0])) - self.K[0, 0])
        self.assertEqual(err, 2 ** -30)
        self.assertIn("warning: tensor d/kernel:0: cast float64->float32 changes 1 of 1 values (max abs error %.6g, "
                      "max rel error %.6g)" % (err, err / self.K[0, 0]), p.stdout)
        w32 = ndarray_ref.load_dict(d + "/m32-0000.params")["arg:d_weight"]
        self.assertEqual(float((x @ w32.T.astype(np.float64))[0, 0]), 1073741824.0)  # the case's float32 result

    def test_class_mxnet_float64_to_keras(self):
        """Same class in the other direction: MXNet float64 params stay float64 in the .h5."""
        d = tmpdir("br21_mx")
        json.dump(GLUON_DENSE, open(d + "/g-symbol.json", "w"))
        w = np.float64([[1 + 2 ** -40, -3.0], [0.1, 1e-300]])
        f16_params(d + "/g-0000.params", [("arg:dense0_weight", w), ("arg:dense0_bias", np.float64([0.5, 2 ** -60]))])
        run("convert", *mx(d + "/g"), "--to", "keras", "-o", d + "/k.h5", check=0)
        kernel, bias = keras_weights(d + "/k.h5")["dense0"]
        self.assertEqual(kernel.dtype, np.float64)
        self.assertEqual(kernel.tobytes(), np.ascontiguousarray(w.T).tobytes())
        self.assertEqual(bias[1], 2 ** -60)


class BR24BrokenParams(unittest.TestCase):
    """BR-24: a .params file that is truncated or not a params file at all: one line, exit 3."""

    def variants(self, d):
        write_params(d + "/a.params", [("arg:fc_weight", [[1, 2], [3, 4]])])
        data = open(d + "/a.params", "rb").read()
        cut = 24 + 4 + 4 + 4 + 16 + 12 + 8  # header, V2 magic, stype, ndim, shape, context + dtype, half the data
        open(d + "/b.params", "wb").write(data[:cut])
        open(d + "/model-0000.params", "w").write("<html><head><title>404 Not Found</title></head></html>\n")
        open(d + "/d.params", "w").write("version https://git-lfs.github.com/spec/v1\noid sha256:"
                                         "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 46827520\n")
        return data

    def test_four_variants(self):
        d = tmpdir("br24")
        self.variants(d)
        sym = {"nodes": [{"op": "null", "name": "data", "attrs": {"__shape__": "(0, 2)"}, "inputs": []},
                         {"op": "null", "name": "fc_weight", "inputs": []},
                         {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "2", "no_bias": "True"},
                          "inputs": [[0, 0, 0], [1, 0, 0]]}],
               "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]]}
        json.dump(sym, open(d + "/fc-symbol.json", "w"))
        run("convert", d + "/fc-symbol.json", d + "/a.params", "--to", "keras", "-o", d + "/a.h5", check=0)
        np.testing.assert_array_equal(keras_weights(d + "/a.h5")["fc"][0].T, [[1, 2], [3, 4]])
        html_magic = int.from_bytes(b"<html><h", "little")
        expected = {
            "b.params": "record 0: truncated: array payload needs 16 bytes at offset 64, 8 available",
            "model-0000.params": "bad magic 0x%x (expected 0x112); not an MXNet NDArray file; file starts with "  # 32 chars
                                 "'%s'" % (html_magic, "<html><head><title>404 Not Found</title></head></html>"[:32]),
            "d.params": "Git LFS pointer, not data (fetch the real file with 'git lfs pull')",
        }
        for name, what in expected.items():
            with self.subTest(name):
                path = d + "/" + name
                for args in (("inspect", path), ("convert", d + "/fc-symbol.json", path, "--to", "keras", "-o", d + "/out.h5")):
                    line = one_line_error(self, run(*args), 3, path)
                    self.assertEqual(line, "weightbridge: %s: %s" % (path, what))
                self.assertFalse(os.path.exists(d + "/out.h5"))

    def test_class_other_cuts_and_pages(self):
        """Same class: cut in the names, in the header, an empty file, an HTML page with a doctype."""
        d = tmpdir("br24_class")
        data = self.variants(d)
        open(d + "/names.params", "wb").write(data[:-5])
        open(d + "/hdr.params", "wb").write(data[:10])
        open(d + "/empty.params", "wb").write(b"")
        open(d + "/doc.params", "w").write("<!DOCTYPE html>\n<html><body>denied</body></html>")
        expected = {
            "names.params": "names: truncated: name 0 needs 13 bytes at offset 96, 8 available",
            "hdr.params": "truncated: reserved header field needs 8 bytes at offset 8, 2 available",
            "empty.params": "truncated: list magic needs 8 bytes at offset 0, 0 available",
            "doc.params": "bad magic 0x%x (expected 0x112); not an MXNet NDArray file; file starts with '<!DOCTYPE html>'"
                          % int.from_bytes(b"<!DOCTYP", "little"),
        }
        for name, what in expected.items():
            with self.subTest(name):
                line = one_line_error(self, run("inspect", d + "/" + name), 3, d + "/" + name)
                self.assertEqual(line, "weightbridge: %s/%s: %s" % (d, name, what))


def bn_stats_file(path, gamma, beta, mean, var, scale=True, df="channels_last"):
    shape = (4, 4, 3) if df == "channels_last" else (3, 4, 4)
    layers = [{"class_name": "Conv2D", "config": conv2d_cfg("conv", 2, [1, 1], df, shape, use_bias=True)},
              {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1 if df == "channels_last" else 1,
                                                              "epsilon": 0.001, "scale": scale}}]
    names = (["gamma"] if scale else []) + ["beta", "moving_mean", "moving_variance"]
    vals = ([gamma] if scale else []) + [beta, mean, var]
    keras_file(path, layers, {"conv": [("conv/kernel:0", np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)),
                                       ("conv/bias:0", np.float32([0.1, 0.2]))],
                              "bn": [("bn/%s:0" % n, np.float32(v)) for n, v in zip(names, vals)]})


class BR26StatisticsAtInitialValues(unittest.TestCase):
    """BR-26: BatchNorm statistics never saved: conversion warns (or fails with --strict-statistics)."""

    def test_warning_and_strict_mode(self):
        d = tmpdir("br26")
        bn_stats_file(d + "/m.h5", [1.7, 0.4], [0.3, -0.2], [0, 0], [1, 1])
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        warn = [l for l in p.stdout.splitlines() if l.startswith("warning:")]
        self.assertEqual(len(warn), 1, p.stdout)
        self.assertIn("layer bn", warn[0])
        self.assertIn("running statistics are at their initial values", warn[0])
        self.assertIn("checkpoint probably lacks the statistics", warn[0])
        line = one_line_error(self, run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/s", "--strict-statistics"),
                              4, d + "/m.h5")
        self.assertIn("layer 'bn'", line)
        self.assertFalse(os.path.exists(d + "/s-0000.params"))
        # trained statistics: no warning
        bn_stats_file(d + "/ok.h5", [1.7, 0.4], [0.3, -0.2], [0.5, 0], [1, 1])
        p = run("convert", d + "/ok.h5", "--to", "mxnet", "-o", d + "/ok", "--strict-statistics", check=0)
        self.assertNotIn("warning:", p.stdout)

    def test_class_scale_false_channels_first_and_mxnet_source(self):
        """Same class: only beta trained (scale=False), channels_first; and an MXNet checkpoint
        whose aux states were never copied back."""
        d = tmpdir("br26_class")
        bn_stats_file(d + "/cf.h5", None, [0.3, -0.2], [0, 0], [1, 1], scale=False, df="channels_first")
        p = run("convert", d + "/cf.h5", "--to", "keras", "-o", d + "/cf_k.h5", check=0)
        self.assertIn("warning: layer bn:", p.stdout)
        sym = json.loads(json.dumps(SYM_1X))
        sym["nodes"][0]["attrs"] = {"__shape__": "(1, 2, 1, 1)"}
        sym["nodes"][5]["attrs"]["fix_gamma"] = "False"
        json.dump(sym, open(d + "/b-symbol.json", "w"))
        write_params(d + "/b-0000.params", [("arg:bn0_gamma", [2.0, 0.5]), ("arg:bn0_beta", [0.1, -0.1]),
                                            ("aux:bn0_moving_mean", [0.0, 0.0]), ("aux:bn0_moving_var", [1.0, 1.0])])
        p = run("convert", *mx(d + "/b"), "--to", "keras", "-o", d + "/b.h5", check=0)
        self.assertIn("warning: layer bn0:", p.stdout)
        self.assertEqual(run("convert", *mx(d + "/b"), "--to", "keras", "-o", d + "/s.h5", "--strict-statistics").returncode, 4)


class BR11DefaultFixGamma(unittest.TestCase):
    """BR-11, same class: a BatchNorm with no fix_gamma attribute (MXNet's default is True), 3 channels."""

    def test_missing_attribute_means_fixed_gamma(self):
        d = tmpdir("br11_default")
        sym = json.loads(json.dumps(SYM_1X))
        sym["nodes"][0]["attrs"] = {"__shape__": "(1, 3, 2, 1)"}
        del sym["nodes"][5]["attrs"]["fix_gamma"]
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        beta, mean, var = np.float32([0.1, -0.1, 0.3]), np.float32([1, -1, 0.5]), np.float32([4, 0.25, 2])
        write_params(d + "/m-0000.params", [("arg:bn0_gamma", [2.0, 0.5, 3.0]), ("arg:bn0_beta", beta),
                                            ("aux:bn0_moving_mean", mean), ("aux:bn0_moving_var", var)])
        p = run("convert", *mx(d + "/m"), "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        self.assertIn("fix_gamma", p.stdout)
        x = np.random.default_rng(2).standard_normal((2, 3, 2, 1)).astype(np.float32)
        c = (slice(None), None, None)
        want = (x - mean[c]) / np.sqrt(var[c] + np.float32(1e-3)) + beta[c]  # gamma ignored
        np.testing.assert_allclose(run_on(d, [d + "/k.h5"], x), want, atol=1e-5)


class BR22Bfloat16Params(unittest.TestCase):
    """BR-22 (c): an MXNet .params array with dtype flag 12 (bfloat16)."""

    def test_flag_12_decodes_and_upcasts_exactly(self):
        import struct
        d = tmpdir("br22")
        bits = np.array([0x3F80, 0x4049, 0xC000], np.uint16)
        out = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 2) + struct.pack("<2q", 3, 1)
        out += struct.pack("<iii", 1, 0, 12) + bits.tobytes() + struct.pack("<QQ", 1, 13) + b"arg:fc_weight"
        open(d + "/c-0000.params", "wb").write(out)
        sym = {"nodes": [{"op": "null", "name": "data", "attrs": {"__shape__": "(0, 1)"}, "inputs": []},
                         {"op": "null", "name": "fc_weight", "inputs": []},
                         {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3", "no_bias": "True"},
                          "inputs": [[0, 0, 0], [1, 0, 0]]}],
               "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]]}
        json.dump(sym, open(d + "/c-symbol.json", "w"))
        decoded = (bits.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(decoded, [1.0, 3.140625, -2.0])
        # Keras 2 .h5 has no bfloat16: refused, naming the option ...
        p = run("convert", *mx(d + "/c"), "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("--dtype float32", p.stderr)
        # ... which upcasts exactly and says so
        p = run("convert", *mx(d + "/c"), "--to", "keras", "-o", d + "/k.h5", "--dtype", "float32", check=0)
        self.assertIn("cast bfloat16->float32", p.stdout)
        self.assertNotIn("warning:", p.stdout)
        self.assertEqual(keras_weights(d + "/k.h5")["fc"][0].tobytes(), decoded.reshape(1, 3).tobytes())


if __name__ == "__main__":
    unittest.main()
