"""doctor: one small file per finding kind, built here from the failure cases and the real
fixtures; each asserts the finding, and clean files get none."""
import json
import shutil
import unittest

import h5py
import numpy as np

from test_failure_cases import DENSE_CONFIG, KERNEL, BIAS, SYM_1X, write_params
from test_kerasmxnet_h5 import build as build_kerasmxnet
from wbtest import fixture, run, tmpdir


def doctor(*args, expect=None):
    p = run("doctor", *args, "--json")
    if expect is not None:
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)["findings"]


def kinds(findings, severity=None):
    return {(f["kind"], f["severity"]) for f in findings if severity is None or f["severity"] == severity}


def dense_h5(path, kernel=KERNEL, bias=BIAS, version=b"2.2.4", backend=b"tensorflow", dtype=None):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = backend
        f.attrs["model_config"] = json.dumps(DENSE_CONFIG).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"dense_1"]
        g.attrs["keras_version"] = version
        g.attrs["backend"] = backend
        lg = g.create_group("dense_1")
        lg.attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
        lg.create_dataset("dense_1/kernel:0", data=kernel if dtype is None else kernel.astype(dtype))
        lg.create_dataset("dense_1/bias:0", data=bias if dtype is None else bias.astype(dtype))


class Doctor(unittest.TestCase):
    def test_clean_files_have_no_findings(self):
        self.assertEqual(doctor(fixture("keras2/cnn_batch_norm.h5"), expect=0), [])
        self.assertEqual(doctor(fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"),
                                fixture("mxnet-gluon/mnist_mlp_gluon.params"), expect=0), [])
        d = tmpdir("doc_clean")
        dense_h5(d + "/ok.h5")
        self.assertEqual(doctor(d + "/ok.h5", expect=0), [])

    def test_theano_layout(self):
        f = doctor(fixture("keras2/batch_to_conv2d_theano.h5"), expect=1)
        self.assertIn(("layout", "warning"), kinds(f))
        self.assertTrue(any("Theano" in x["message"] for x in f))

    def test_keras1_ambiguity(self):
        f = doctor(fixture("keras1/k2c_mnist_cnn_th_weights.h5"), fixture("keras1/k2c_mnist_cnn_th_arch.json"), expect=1)
        amb = [x for x in f if x["kind"] == "ambiguity"]
        self.assertEqual(len(amb), 1)
        self.assertIn("--kernel-flip", amb[0]["fix"])

    def test_fix_gamma_with_stored_gamma(self):  # BR-11
        d = tmpdir("doc_br11")
        sym = json.loads(json.dumps(SYM_1X))
        sym["nodes"][0]["attrs"] = {"__shape__": "(1, 2, 1, 1)"}
        json.dump(sym, open(d + "/m-symbol.json", "w"))
        write_params(d + "/m-0000.params", [("arg:bn0_gamma", [2.0, 0.5]), ("arg:bn0_beta", [0.1, -0.1]),
                                            ("aux:bn0_moving_mean", [1.0, -1.0]), ("aux:bn0_moving_var", [4.0, 0.25])])
        f = doctor(d + "/m-symbol.json", d + "/m-0000.params", expect=1)
        bn = [x for x in f if x["kind"] == "batchnorm"]
        self.assertEqual(len(bn), 1)
        self.assertIn("[2, 0.5]", bn[0]["evidence"])

    def test_batchnorm_statistics_at_initial_values(self):  # BR-26
        d = tmpdir("doc_br26")
        cfg = {"class_name": "Sequential", "config": [
            {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [1, 1], "padding": "valid",
                                                "data_format": "channels_last", "batch_input_shape": [None, 4, 4, 3]}},
            {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "epsilon": 0.001}}]}
        with h5py.File(d + "/m.h5", "w") as f:
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(cfg).encode()
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"conv", b"bn"]
            g.attrs["keras_version"] = b"2.2.4"
            g.attrs["backend"] = b"tensorflow"
            c = g.create_group("conv")
            c.attrs["weight_names"] = [b"conv/kernel:0", b"conv/bias:0"]
            c.create_dataset("conv/kernel:0", data=np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2))
            c.create_dataset("conv/bias:0", data=np.array([0.1, 0.2], np.float32))
            b = g.create_group("bn")
            names = ["gamma", "beta", "moving_mean", "moving_variance"]
            b.attrs["weight_names"] = [("bn/%s:0" % n).encode() for n in names]
            for n, v in zip(names, ([1.7, 0.4], [0.3, -0.2], [0, 0], [1, 1])):
                b.create_dataset("bn/%s:0" % n, data=np.array(v, np.float32))
        f = doctor(d + "/m.h5", expect=1)
        self.assertTrue(any(x["where"] == "bn" and "initial values" in x["message"] for x in f))

    def test_zero_constant_and_nan_weights(self):
        d = tmpdir("doc_values")
        dense_h5(d + "/zero.h5", kernel=np.zeros((2, 1), np.float32))
        self.assertIn(("weights", "warning"), kinds(doctor(d + "/zero.h5", expect=1)))
        dense_h5(d + "/const.h5", kernel=np.full((2, 1), 0.05, np.float32))
        self.assertTrue(any("constant" in x["message"] for x in doctor(d + "/const.h5", expect=1)))
        dense_h5(d + "/nan.h5", kernel=np.array([[np.nan], [1.0]], np.float32))
        self.assertIn(("weights", "error"), kinds(doctor(d + "/nan.h5", expect=1)))

    def test_float64_precision(self):  # BR-21
        d = tmpdir("doc_f64")
        dense_h5(d + "/f64.h5", dtype=np.float64)
        self.assertIn(("dtype", "warning"), kinds(doctor(d + "/f64.h5", expect=1)))

    def test_keras_mxnet_channels_first_kernels(self):
        d = tmpdir("doc_kmx")
        build_kerasmxnet(d + "/kmx.h5")
        f = doctor(d + "/kmx.h5", "--to", "keras", expect=1)
        lay = [x for x in f if x["kind"] == "layout" and "MXNet order" in x["message"]]
        self.assertEqual(len(lay), 1)
        self.assertEqual(lay[0]["severity"], "warning")
        self.assertIn("--to keras", lay[0]["fix"])
        # going to MXNet, the same order is MXNet's own: a note, and the fix converts to MXNet
        lay = [x for x in doctor(d + "/kmx.h5", "--to", "mxnet") if x["code"] == "keras-mxnet-kernels"]
        self.assertEqual([x["severity"] for x in lay], ["info"])
        self.assertIn("--to mxnet", lay[0]["fix"])

    def test_version_metadata_inconsistent(self):
        d = tmpdir("doc_meta")
        dense_h5(d + "/m.h5", version=b"2.2.4.3", backend=b"tensorflow")
        self.assertIn(("metadata", "warning"), kinds(doctor(d + "/m.h5", expect=1)))

    def test_into_reports_missing_extra_dtype_and_names(self):
        d = tmpdir("doc_into")
        src = fixture("keras2/cnn_batch_norm.h5")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--dtype", "float16", check=0)
        f = doctor(src, "--into", d + "/m-symbol.json", d + "/m-0000.params", expect=1)
        self.assertIn(("dtype", "warning"), kinds(f))
        f = doctor(src, "--into", fixture("keras2/mlp_adam_training_config.h5"), expect=1)
        self.assertIn(("weights", "error"), kinds(f))

    def test_symbol_too_new_for_target(self):  # BR-16
        d = tmpdir("doc_dialect")
        shutil.copy(fixture("mxnet-module/linreg-0000.params"), d + "/m-0000.params")
        run("convert", fixture("mxnet-module/linreg-symbol.json"), d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", check=0)
        run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/new", check=0)
        f = doctor(d + "/new-symbol.json", d + "/new-0000.params", "--into", fixture("mxnet-module/linreg-symbol.json"),
                   fixture("mxnet-module/linreg-0000.params"), expect=1)
        sym = [x for x in f if x["kind"] == "symbol"]
        self.assertEqual(len(sym), 1)
        self.assertIn("--symbol-dialect attr", sym[0]["fix"])
        run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/old", "--symbol-dialect", "attr", check=0)
        self.assertIn('"attr"', open(d + "/old-symbol.json").read())
        # stamped 0.12.0: the one pre-1.0 MXNet that reads the V2 parameter records beside it
        with open(d + "/old-symbol.json") as f:
            self.assertEqual(json.load(f)["attrs"]["mxnet_version"], ["int", 1200])
        self.assertNotIn('"attrs": {"', open(d + "/old-symbol.json").read().split('"arg_nodes"')[0])


if __name__ == "__main__":
    unittest.main()
