"""Loading policies of convert (--allow-missing, --ignore-extra, --skip-mismatch, --cast-dtype,
--map): each flag on a file with exactly the fault it accepts, the refusal without it (exit code
and message), and the converted values checked with h5py/numpy against the source."""
import json
import os
import struct
import unittest

import h5py
import numpy as np

import ndarray_ref
from wbtest import fixture, run, tmpdir

K1 = (np.arange(6, dtype=np.float32).reshape(3, 2) / 7)
B1 = np.float32([0.1, -0.2])
K2 = np.float32([[0.5], [-1.0]])
B2 = np.float32([0.25])
BN_VALUES = {"gamma": [1.5, 2.0], "beta": [0.1, 0.2], "moving_mean": [0.3, 0.4], "moving_variance": [2.0, 3.0]}
BN_ROLES = ["gamma", "beta", "moving_mean", "moving_variance"]

DENSE_1 = {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "activation": "linear", "use_bias": True,
                                             "batch_input_shape": [None, 3]}}
BN = {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "epsilon": 0.001}}
DENSE_2 = {"class_name": "Dense", "config": {"name": "dense_2", "units": 1, "activation": "linear", "use_bias": True}}


def dense_group(name, k, b, group=None):
    group = group or name
    return group, [(group + "/kernel:0", k), (group + "/bias:0", b)]


def bn_group(values=BN_VALUES, roles=BN_ROLES):
    return "bn", [("bn/%s:0" % r, np.float32(values[r])) for r in roles]


def keras_model(path, layers, groups):
    """Keras 2.2.4 Sequential file: `layers` the config, `groups` [(group, [(weight name, array)])]."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers})
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n, _ in groups]
        g.attrs["keras_version"] = "2.2.4"
        g.attrs["backend"] = "tensorflow"
        for n, ws in groups:
            lg = g.create_group(n)
            lg.attrs["weight_names"] = [w.encode() for w, _ in ws]
            for w, a in ws:
                lg.create_dataset(w, data=a)
    return path


def save_float64(path, named_arrays):
    """An NDArray list file of V2 float64 records (type flag 1), cpu(0): the layout of ndarray_ref.save."""
    out = struct.pack("<QQQ", 0x112, 0, len(named_arrays))
    for _, a in named_arrays:
        a = np.ascontiguousarray(a, np.float64)
        out += struct.pack("<Iii", ndarray_ref.V2, 0, a.ndim) + struct.pack("<%dq" % a.ndim, *a.shape)
        out += struct.pack("<iii", 1, 0, 1) + a.tobytes()
    out += struct.pack("<Q", len(named_arrays))
    for n, _ in named_arrays:
        out += struct.pack("<Q", len(n)) + n.encode()
    with open(path, "wb") as f:
        f.write(out)


def convert(*args, code):
    p = run("convert", *args)
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    return p


def params(prefix):
    return ndarray_ref.load_dict(prefix + "-0000.params")


def check_dense(test, p, layer, k, b):
    """MXNet FullyConnected weight (out, in) = Keras kernel.T, bias as stored."""
    test.assertEqual(p["arg:%s_weight" % layer].tobytes(), np.ascontiguousarray(k.T).tobytes())
    test.assertEqual(p["arg:%s_bias" % layer].tobytes(), b.tobytes())


def one_line_error(test, p, *words):
    test.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
    test.assertTrue(p.stderr.startswith("weightbridge: "), p.stderr)
    for w in words:
        test.assertIn(w, p.stderr)


class AllowMissing(unittest.TestCase):
    def test_keras_batchnorm_filled_with_initial_values(self):
        d = tmpdir("pol_missing_bn")
        src = keras_model(d + "/m.h5", [DENSE_1, BN, DENSE_2], [dense_group("dense_1", K1, B1), dense_group("dense_2", K2, B2)])
        p = convert(src, "--to", "mxnet", "-o", d + "/no", code=4)
        one_line_error(self, p, "layer 'bn'", "expects 4 weights")
        self.assertFalse(os.path.exists(d + "/no-0000.params"))
        p = convert(src, "--to", "mxnet", "-o", d + "/mx", "--allow-missing", "--verify", code=0)
        self.assertIn("filled with its initial values (--allow-missing)", p.stdout)
        got = params(d + "/mx")
        # BatchNormalization's initializers: gamma ones, beta zeros, moving mean zeros, variance ones; 2 channels
        np.testing.assert_array_equal(got["arg:bn_gamma"], np.ones(2, np.float32))
        np.testing.assert_array_equal(got["arg:bn_beta"], np.zeros(2, np.float32))
        np.testing.assert_array_equal(got["aux:bn_moving_mean"], np.zeros(2, np.float32))
        np.testing.assert_array_equal(got["aux:bn_moving_var"], np.ones(2, np.float32))
        check_dense(self, got, "dense_1", K1, B1)
        check_dense(self, got, "dense_2", K2, B2)

    def test_keras_random_initializer_refused_even_with_the_flag(self):
        d = tmpdir("pol_missing_dense")
        src = keras_model(d + "/m.h5", [DENSE_1, BN, DENSE_2], [dense_group("dense_1", K1, B1), bn_group()])
        one_line_error(self, convert(src, "--to", "mxnet", "-o", d + "/a", code=4), "layer 'dense_2'", "expects 2 weights")
        p = convert(src, "--to", "mxnet", "-o", d + "/b", "--allow-missing", code=4)
        one_line_error(self, p, "layer 'dense_2'", "not deterministic", "--allow-missing cannot fill it")
        self.assertFalse(os.path.exists(d + "/b-0000.params"))

    def test_mxnet_bias_filled_weight_refused(self):
        d = tmpdir("pol_missing_mx")
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        src = ndarray_ref.load_dict(par)
        ndarray_ref.save(d + "/nobias.params", [(n, a) for n, a in src.items() if n != "sequential0_dense1_bias"])
        p = convert(sym, d + "/nobias.params", "--to", "keras", "-o", d + "/a.h5", code=4)
        one_line_error(self, p, "sequential0_dense1_bias", "missing")
        convert(sym, d + "/nobias.params", "--to", "keras", "-o", d + "/k.h5", "--allow-missing", code=0)
        with h5py.File(d + "/k.h5", "r") as f:
            g = f["model_weights/sequential0_dense1/sequential0_dense1"]
            np.testing.assert_array_equal(np.array(g["bias:0"]), np.zeros(64, np.float32))  # MXNet's bias initial value
            np.testing.assert_array_equal(np.array(g["kernel:0"]), src["sequential0_dense1_weight"].T)
        ndarray_ref.save(d + "/noweight.params", [(n, a) for n, a in src.items() if n != "sequential0_dense2_weight"])
        p = convert(sym, d + "/noweight.params", "--to", "keras", "-o", d + "/b.h5", "--allow-missing", code=4)
        one_line_error(self, p, "sequential0_dense2_weight", "--allow-missing cannot fill them")


class IgnoreExtra(unittest.TestCase):
    def test_keras_extra_group(self):
        d = tmpdir("pol_extra_k")
        src = keras_model(d + "/m.h5", [DENSE_1, DENSE_2], [dense_group("dense_1", K1, B1), dense_group("dense_2", K2, B2),
                                                            ("dense_9", [("dense_9/kernel:0", K2)])])
        p = convert(src, "--to", "mxnet", "-o", d + "/a", code=4)
        one_line_error(self, p, "dense_9", "match no layer", "--ignore-extra")
        p = convert(src, "--to", "mxnet", "-o", d + "/mx", "--ignore-extra", "--verify", code=0)
        self.assertIn("left out (--ignore-extra): dense_9", p.stdout)
        got = params(d + "/mx")
        self.assertEqual(sorted(got), ["arg:dense_1_bias", "arg:dense_1_weight", "arg:dense_2_bias", "arg:dense_2_weight"])
        check_dense(self, got, "dense_1", K1, B1)
        check_dense(self, got, "dense_2", K2, B2)

    def test_mxnet_extra_parameter(self):
        d = tmpdir("pol_extra_mx")
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        src = ndarray_ref.load_dict(par)
        ndarray_ref.save(d + "/x.params", list(src.items()) + [("stray_weight", np.ones((2, 2), np.float32))])
        one_line_error(self, convert(sym, d + "/x.params", "--to", "keras", "-o", d + "/a.h5", code=4), "stray_weight",
                       "--ignore-extra")
        p = convert(sym, d + "/x.params", "--to", "keras", "-o", d + "/k.h5", "--ignore-extra", "--verify", code=0)
        self.assertIn("stray_weight", p.stdout)
        with h5py.File(d + "/k.h5", "r") as f:
            for i in range(3):
                g = f["model_weights/sequential0_dense%d/sequential0_dense%d" % (i, i)]
                np.testing.assert_array_equal(np.array(g["kernel:0"]), src["sequential0_dense%d_weight" % i].T)
            self.assertNotIn("stray_weight", json.dumps(list(f["model_weights"].keys())))


class SkipMismatch(unittest.TestCase):
    def test_weight_count_mismatch(self):
        d = tmpdir("pol_skip_count")
        src = keras_model(d + "/m.h5", [DENSE_1, BN, DENSE_2],
                          [dense_group("dense_1", K1, B1), bn_group(roles=["gamma", "beta"]), dense_group("dense_2", K2, B2)])
        one_line_error(self, convert(src, "--to", "mxnet", "-o", d + "/a", code=4), "layer 'bn'", "expects 4 weights",
                       "the file has 2")
        # skipped, the layer has no weights: refused unless --allow-missing can fill it
        one_line_error(self, convert(src, "--to", "mxnet", "-o", d + "/b", "--skip-mismatch", code=4), "layer 'bn'",
                       "skipped (--skip-mismatch)", "--allow-missing")
        p = convert(src, "--to", "mxnet", "-o", d + "/mx", "--skip-mismatch", "--allow-missing", code=0)
        self.assertIn("do not fit and were skipped (--skip-mismatch)", p.stdout)
        got = params(d + "/mx")
        np.testing.assert_array_equal(got["arg:bn_gamma"], np.ones(2, np.float32))  # not the stored 1.5, 2
        np.testing.assert_array_equal(got["aux:bn_moving_var"], np.ones(2, np.float32))
        check_dense(self, got, "dense_2", K2, B2)

    def test_shape_mismatch(self):
        d = tmpdir("pol_skip_shape")
        wide = {r: v * 2 for r, v in BN_VALUES.items()}  # 4 values for 2 channels
        src = keras_model(d + "/m.h5", [DENSE_1, BN, DENSE_2],
                          [dense_group("dense_1", K1, B1), bn_group(values=wide), dense_group("dense_2", K2, B2)])
        p = convert(src, "--to", "mxnet", "-o", d + "/a", code=4)
        one_line_error(self, p, "layer 'bn'", "(4,)", "expected (2,) for 2 channels", "--skip-mismatch")
        self.assertFalse(os.path.exists(d + "/a-0000.params"))
        convert(src, "--to", "mxnet", "-o", d + "/b", "--skip-mismatch", code=4)
        p = convert(src, "--to", "mxnet", "-o", d + "/mx", "--skip-mismatch", "--allow-missing", "--verify", code=0)
        got = params(d + "/mx")
        np.testing.assert_array_equal(got["aux:bn_moving_mean"], np.zeros(2, np.float32))
        check_dense(self, got, "dense_1", K1, B1)


class CastDtype(unittest.TestCase):
    def test_keras_float64_to_declared_float32(self):
        d = tmpdir("pol_cast_k")
        k64, b64 = (K1.astype(np.float64) + 1e-12), B1.astype(np.float64)
        src = keras_model(d + "/m.h5", [DENSE_1, DENSE_2], [dense_group("dense_1", k64, b64), dense_group("dense_2", K2, B2)])
        # without the flag the stored dtype is kept, bit for bit
        convert(src, "--to", "mxnet", "-o", d + "/keep", code=0)
        keep = params(d + "/keep")
        self.assertEqual(keep["arg:dense_1_weight"].dtype, np.float64)
        self.assertEqual(keep["arg:dense_1_weight"].tobytes(), np.ascontiguousarray(k64.T).tobytes())
        p = convert(src, "--to", "mxnet", "-o", d + "/mx", "--cast-dtype", "--verify", code=0)
        self.assertIn("cast float64->float32 (--cast-dtype)", p.stdout)
        got = params(d + "/mx")
        self.assertEqual(got["arg:dense_1_weight"].dtype, np.float32)
        np.testing.assert_array_equal(got["arg:dense_1_weight"], k64.T.astype(np.float32))
        np.testing.assert_array_equal(got["arg:dense_1_bias"], b64.astype(np.float32))
        check_dense(self, got, "dense_2", K2, B2)

    def test_mxnet_float64_to_declared_dtype(self):
        d = tmpdir("pol_cast_mx")
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        with open(sym) as f:  # every weight variable declares __dtype__ 0 (float32)
            declared = {n["name"]: n.get("attr", {}).get("__dtype__") for n in json.load(f)["nodes"] if n["op"] == "null"}
        self.assertEqual(declared["sequential0_dense0_weight"], "0")
        src = ndarray_ref.load_dict(par)
        save_float64(d + "/f64.params", list(src.items()))
        self.assertEqual(ndarray_ref.load_dict(d + "/f64.params")["sequential0_dense0_weight"].dtype, np.float64)
        convert(sym, d + "/f64.params", "--to", "keras", "-o", d + "/keep.h5", code=0)
        with h5py.File(d + "/keep.h5", "r") as f:
            self.assertEqual(f["model_weights/sequential0_dense0/sequential0_dense0/kernel:0"].dtype, np.float64)
        convert(sym, d + "/f64.params", "--to", "keras", "-o", d + "/k.h5", "--cast-dtype", code=0)
        with h5py.File(d + "/k.h5", "r") as f:
            k = np.array(f["model_weights/sequential0_dense0/sequential0_dense0/kernel:0"])
        self.assertEqual(k.dtype, np.float32)
        np.testing.assert_array_equal(k, src["sequential0_dense0_weight"].T)  # float32 -> float64 -> float32 is exact


class Map(unittest.TestCase):
    def write(self, d, name, doc):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def test_keras_exact_and_regex_with_capture_groups(self):
        d = tmpdir("pol_map_k")
        layers = [DENSE_1, BN, DENSE_2]
        src = keras_model(d + "/m.h5", layers, [dense_group("dense_1", K1, B1, group="old_dense_1"),
                                                ("norm_7", [("norm_7/%s:0" % r, np.float32(BN_VALUES[r])) for r in BN_ROLES]),
                                                dense_group("dense_2", K2, B2, group="blk_2")])
        keras_model(d + "/partial.h5", layers, [dense_group("dense_1", K1, B1), bn_group(), dense_group("dense_2", K2, B2, group="blk_2")])
        # one name matches: no pairing by position, so blk_2 is extra and dense_2 missing
        one_line_error(self, convert(d + "/partial.h5", "--to", "mxnet", "-o", d + "/a", code=4), "dense_2")
        m = self.write(d, "map.json", {"exact": {"old_dense_1": "dense_1", "norm_7": "bn"},
                                       "regex": [["^blk_([0-9]+)$", "dense_$1"], ["^never_(.*)$", "x_$1"]]})
        for path, prefix in ((src, "mx"), (d + "/partial.h5", "mx2")):
            p = convert(path, "--to", "mxnet", "-o", d + "/" + prefix, "--map", m, "--verify", code=0)
            self.assertIn('--map rule matched no name: regex "^never_(.*)$"', p.stdout)
            got = params(d + "/" + prefix)
            check_dense(self, got, "dense_1", K1, B1)
            check_dense(self, got, "dense_2", K2, B2)
            np.testing.assert_array_equal(got["arg:bn_gamma"], np.float32(BN_VALUES["gamma"]))
            np.testing.assert_array_equal(got["aux:bn_moving_var"], np.float32(BN_VALUES["moving_variance"]))
        # the rules that did not apply to partial.h5 are reported too
        p = convert(d + "/partial.h5", "--to", "mxnet", "-o", d + "/mx3", "--map", m, code=0)
        self.assertIn('exact "old_dense_1"', p.stdout)
        self.assertIn('exact "norm_7"', p.stdout)

    def test_mxnet_regex_with_two_groups(self):
        d = tmpdir("pol_map_mx")
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        src = ndarray_ref.load_dict(par)
        renamed = [(n.replace("sequential0_dense", "fc"), a) for n, a in src.items()]  # fc0_weight, ...
        ndarray_ref.save(d + "/r.params", renamed)
        convert(sym, d + "/r.params", "--to", "keras", "-o", d + "/a.h5", code=4)
        m = self.write(d, "map.json", {"regex": [["^fc([0-9])_(weight|bias)$", "sequential0_dense$1_$2"]]})
        p = convert(sym, d + "/r.params", "--to", "keras", "-o", d + "/k.h5", "--map", m, "--verify", code=0)
        self.assertNotIn("matched no name", p.stdout)
        with h5py.File(d + "/k.h5", "r") as f:
            for i in range(3):
                g = f["model_weights/sequential0_dense%d/sequential0_dense%d" % (i, i)]
                np.testing.assert_array_equal(np.array(g["kernel:0"]), src["sequential0_dense%d_weight" % i].T)
                np.testing.assert_array_equal(np.array(g["bias:0"]), src["sequential0_dense%d_bias" % i])

    def test_invalid_maps_refused(self):
        d = tmpdir("pol_map_bad")
        src = keras_model(d + "/m.h5", [DENSE_1, DENSE_2], [dense_group("dense_1", K1, B1), dense_group("dense_2", K2, B2)])
        cases = [("json.json", '{"exact": ', "not valid JSON"),
                 ("regex.json", {"regex": [["(unclosed", "x"]]}, "invalid regular expression '(unclosed'"),
                 ("key.json", {"renames": {}}, "unknown key 'renames'"),
                 ("rule.json", {"regex": [["^a$"]]}, "is not [pattern, replacement]"),
                 ("exact.json", {"exact": {"a": 3}}, "exact rule for 'a' is not a string"),
                 ("list.json", [1, 2], "expected an object")]
        for name, doc, words in cases:
            with self.subTest(name):
                path = self.write(d, name, doc)
                p = convert(src, "--to", "mxnet", "-o", d + "/out", "--map", path, code=2)
                one_line_error(self, p, path, "--map", words)
                self.assertFalse(os.path.exists(d + "/out-0000.params"))
        p = convert(src, "--to", "mxnet", "-o", d + "/out", "--map", d + "/absent.json", code=5)
        one_line_error(self, p, "absent.json")


if __name__ == "__main__":
    unittest.main()
