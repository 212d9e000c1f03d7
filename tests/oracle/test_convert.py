"""Conversions of real files, checked with h5py/numpy and an independent NDArray reader.
The layout rules are applied here, independently of the code under test."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from wbtest import fixture, keras_weight_list, run, tmpdir


def keras_weights(path):
    """{layer: [arrays in weight_names order]} read with h5py, following weight_names."""
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
        out = {(ln.decode() if isinstance(ln, bytes) else ln): [] for ln in g.attrs["layer_names"]}
    for ln, _, a in keras_weight_list(path):
        out[ln].append(a)
    return out


def symbol(path):
    with open(path) as f:
        return json.load(f)


class KerasToMxnet(unittest.TestCase):
    def test_cnn_batch_norm(self):
        src = fixture("keras2/cnn_batch_norm.h5")
        d = tmpdir("k2m_cnn_bn")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        p = ndarray_ref.load_dict(d + "/m-0000.params")
        k = keras_weights(src)
        # Conv kernel (kh, kw, in, out) -> (out, in, kh, kw)
        np.testing.assert_array_equal(p["arg:conv2d_1_weight"], k["conv2d_1"][0].transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(p["arg:conv2d_1_bias"], k["conv2d_1"][1])
        np.testing.assert_array_equal(p["arg:batch_normalization_1_gamma"], k["batch_normalization_1"][0])
        np.testing.assert_array_equal(p["arg:batch_normalization_1_beta"], k["batch_normalization_1"][1])
        np.testing.assert_array_equal(p["aux:batch_normalization_1_moving_mean"], k["batch_normalization_1"][2])
        np.testing.assert_array_equal(p["aux:batch_normalization_1_moving_var"], k["batch_normalization_1"][3])
        # Dense kernel (in, out) -> (out, in); rows stay in Keras' HWC flatten order
        np.testing.assert_array_equal(p["arg:dense_1_weight"], k["dense_1"][0].T)
        self.assertEqual(len(p), 10)
        s = symbol(d + "/m-symbol.json")
        names = {n["name"] for n in s["nodes"] if n["op"] == "null"}
        for key in p:
            self.assertIn(key[4:], names)  # every arg:/aux: name is a symbol variable
        bn = [n for n in s["nodes"] if n["op"] == "BatchNorm"][0]
        self.assertEqual(bn["attrs"]["fix_gamma"], "False")
        self.assertEqual(len(s["node_row_ptr"]), len(s["nodes"]) + 1)
        # and back: every tensor byte-identical to the source
        run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
        back = keras_weights(d + "/back.h5")
        for layer, arrays in k.items():
            for a, b in zip(arrays, back.get(layer, [])):
                self.assertEqual(a.tobytes(), b.tobytes(), layer)
            self.assertEqual(len(arrays), len(back.get(layer, [])), layer)

    def test_keras3_archive_and_weights_h5(self):
        src = fixture("keras3/flownet_mlp.keras")
        d = tmpdir("k2m_keras3")
        run("convert", src, "--to", "mxnet", "-o", d + "/a", "--verify", check=0)
        w = fixture("keras3/flownet_mlp.weights.h5")
        run("convert", w, "--arch", src, "--to", "mxnet", "-o", d + "/b", "--verify", check=0)
        pa, pb = ndarray_ref.load_dict(d + "/a-0000.params"), ndarray_ref.load_dict(d + "/b-0000.params")
        with h5py.File(w, "r") as h:
            for layer in ("dense", "dense_1", "dense_2", "dense_3"):
                np.testing.assert_array_equal(pa["arg:%s_weight" % layer], np.array(h["layers/%s/vars/0" % layer]).T)
                np.testing.assert_array_equal(pa["arg:%s_bias" % layer], np.array(h["layers/%s/vars/1" % layer]))
        self.assertEqual(sorted(pa), sorted(pb))
        for key in pa:
            self.assertEqual(pa[key].tobytes(), pb[key].tobytes())
        # optimizer state never becomes a parameter
        self.assertEqual(len(pa), 8)

    def test_tfkeras_embedding_conv1d(self):
        src = fixture("tfkeras/functional_embedding_conv1d.hdf5")
        d = tmpdir("k2m_tfkeras")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        p = ndarray_ref.load_dict(d + "/m-0000.params")
        k = keras_weights(src)
        for layer, arrays in k.items():
            if not arrays:
                continue
            if arrays[0].ndim == 3:  # Conv1D (k, in, out) -> (out, in, k)
                np.testing.assert_array_equal(p["arg:%s_weight" % layer], arrays[0].transpose(2, 1, 0))
            elif layer.startswith("dense"):
                np.testing.assert_array_equal(p["arg:%s_weight" % layer], arrays[0].T)
            else:  # Embedding: same layout
                np.testing.assert_array_equal(p["arg:%s_weight" % layer], arrays[0])

    def test_keras2_mlp_with_optimizer_state(self):
        src = fixture("keras2/mlp_adam_training_config.h5")
        d = tmpdir("k2m_mlp")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        p = ndarray_ref.load_dict(d + "/m-0000.params")
        k = keras_weights(src)
        self.assertEqual(len(p), sum(len(v) for v in k.values()))


class MxnetToKeras(unittest.TestCase):
    def test_gluon_mnist_mlp_round_trip(self):
        sym, par = fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), fixture("mxnet-gluon/mnist_mlp_gluon.params")
        d = tmpdir("m2k_gluon")
        run("convert", sym, par, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        src = ndarray_ref.load_dict(par)
        k = keras_weights(d + "/k.h5")
        for i in range(3):
            layer = "sequential0_dense%d" % i
            np.testing.assert_array_equal(k[layer][0], src[layer + "_weight"].T)
            np.testing.assert_array_equal(k[layer][1], src[layer + "_bias"])
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])
            self.assertEqual(f.attrs["backend"], b"tensorflow" if isinstance(f.attrs["backend"], bytes) else "tensorflow")
        self.assertEqual(cfg["class_name"], "Model")
        # and back to MXNet: the original bytes again
        run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        again = ndarray_ref.load_dict(d + "/m-0000.params")
        for name, arr in src.items():
            self.assertEqual(again["arg:" + name].tobytes(), arr.tobytes(), name)

    def test_kerasmxnet_export_to_keras(self):
        sym = fixture("mxnet-module/smilecnn_kerasmxnet-symbol.json")
        par = fixture("mxnet-module/smilecnn_kerasmxnet-0000.params")
        d = tmpdir("m2k_smile")
        run("convert", par, sym, "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        src = ndarray_ref.load_dict(par)
        k = keras_weights(d + "/k.h5")
        # conv kernels are MXNet OIHW -> Keras (kh, kw, in, out); dense kernels were already (in, out)
        np.testing.assert_array_equal(k["conv2d_1"][0], src["arg:conv2d_1/kernel1"].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(k["conv2d_1"][1], src["arg:conv2d_1/bias1"])
        np.testing.assert_array_equal(k["conv2d_2"][0], src["arg:conv2d_2/kernel1"].transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(k["dense_1"][0], src["arg:dense_1/kernel1"])
        np.testing.assert_array_equal(k["dense_2"][1], src["arg:dense_2/bias1"])
        with h5py.File(d + "/k.h5", "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        flat = [l for l in cfg["config"]["layers"] if l["class_name"] == "Flatten"][0]
        # the export transposed to NHWC before flattening: the Keras Flatten must do the same
        self.assertEqual(flat["config"]["data_format"], "channels_first")

    def test_linreg_v1_module(self):
        d = tmpdir("m2k_linreg")
        run("convert", fixture("mxnet-module/linreg-symbol.json"), fixture("mxnet-module/linreg-0000.params"),
            "--to", "keras", "-o", d + "/k.h5", check=0)
        k = keras_weights(d + "/k.h5")
        kernel, bias = k["fc1"]
        # gold: input [[1, 2]] -> 4.9999918937683105 (PROVENANCE.md)
        y = np.array([[1.0, 2.0]], dtype=np.float32) @ kernel + bias
        self.assertAlmostEqual(float(y[0, 0]), 4.9999918937683105, places=6)


if __name__ == "__main__":
    unittest.main()


class RoundTrips(unittest.TestCase):
    """Keras -> MXNet -> Keras gives back every tensor's bytes; MXNet -> Keras -> MXNet too
    (after the inverse layout, i.e. the stored arrays again)."""

    def test_keras_round_trips(self):
        cases = ["keras2/cnn_batch_norm.h5", "keras2/mlp_adam_training_config.h5",
                 "tfkeras/functional_embedding_conv1d.hdf5"]
        for rel in cases:
            with self.subTest(file=rel):
                src = fixture(rel)
                d = tmpdir("rt_" + os.path.basename(rel))
                run("convert", src, "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
                run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
                a, b = keras_weights(src), keras_weights(d + "/k.h5")
                for layer, arrays in a.items():
                    if not arrays:
                        continue
                    self.assertIn(layer, b)
                    self.assertEqual([x.tobytes() for x in arrays], [x.tobytes() for x in b[layer]], layer)

    def test_keras3_round_trip(self):
        src = fixture("keras3/flownet_mlp.keras")
        d = tmpdir("rt_keras3")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
        run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
        b = keras_weights(d + "/k.h5")
        with h5py.File(fixture("keras3/flownet_mlp.weights.h5"), "r") as h:
            for layer in ("dense", "dense_1", "dense_2", "dense_3"):
                for i in range(2):
                    self.assertEqual(np.array(h["layers/%s/vars/%d" % (layer, i)]).tobytes(), b[layer][i].tobytes())

    def test_mxnet_round_trips(self):
        cases = [("mxnet-gluon/mnist_mlp_gluon-symbol.json", "mxnet-gluon/mnist_mlp_gluon.params"),
                 ("mxnet-module/linreg-symbol.json", "mxnet-module/linreg-0000.params"),
                 ("mxnet-module/smilecnn_kerasmxnet-symbol.json", "mxnet-module/smilecnn_kerasmxnet-0000.params")]
        for sym, par in cases:
            with self.subTest(file=par):
                d = tmpdir("rt_" + os.path.basename(par))
                run("convert", fixture(sym), fixture(par), "--to", "keras", "-o", d + "/k.h5", "--verify", check=0)
                run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/m", "--verify", check=0)
                src, again = ndarray_ref.load_dict(fixture(par)), ndarray_ref.load_dict(d + "/m-0000.params")
                self.assertEqual(len(src), len(again))
                again_bytes = {a.tobytes() for a in again.values()} | {a.T.copy().tobytes() for a in again.values() if a.ndim == 2}
                for name, arr in src.items():
                    # the same bytes come back; keras-mxnet 'dot' kernels come back as FullyConnected (out, in)
                    self.assertIn(arr.tobytes(), again_bytes, name)


class Manifest(unittest.TestCase):
    def test_manifest_records_every_tensor(self):
        import hashlib
        src = fixture("keras2/cnn_batch_norm.h5")
        d = tmpdir("manifest")
        run("convert", src, "--to", "mxnet", "-o", d + "/m", "--manifest", d + "/man.json", "--verify", check=0)
        doc = json.load(open(d + "/man.json"))
        params = ndarray_ref.load_dict(d + "/m-0000.params")
        self.assertEqual(len(doc["tensors"]), len(params))
        self.assertEqual(doc["source"]["framework"], "keras2")
        self.assertEqual(doc["source"]["version"], "2.1.3")
        self.assertEqual(doc["policy"]["strict"], True)
        with h5py.File(src, "r") as f:
            stored = {}
            f["model_weights"].visititems(lambda n, o: stored.__setitem__(n.split("/", 1)[1], np.array(o))
                                          if isinstance(o, h5py.Dataset) else None)
        for t in doc["tensors"]:
            self.assertEqual(t["sha256_after"], hashlib.sha256(params[t["target_name"]].tobytes()).hexdigest())
            self.assertEqual(t["sha256_before"], hashlib.sha256(stored[t["source_name"]].tobytes()).hexdigest())
            self.assertEqual(t["shape_after"], list(params[t["target_name"]].shape))
        conv = [t for t in doc["tensors"] if t["target_name"] == "arg:conv2d_1_weight"][0]
        self.assertEqual(conv["transform"], "transpose(3, 2, 0, 1)")
        self.assertEqual(conv["dtype_before"], "float32")
