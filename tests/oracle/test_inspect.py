"""inspect succeeds on every real fixture; its sha256 of every tensor agrees with h5py / an
independent NDArray reader reading the same bytes."""
import hashlib
import io
import os
import shutil
import unittest
import zipfile

import h5py
import numpy as np

import ndarray_ref
from wbtest import FIXTURES, fixture, inspect_json, run, tmpdir, write_functional


def sha(arr):
    a = np.ascontiguousarray(arr)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def all_fixture_files():
    fixture("PROVENANCE.md")
    out = []
    for root, _dirs, files in os.walk(FIXTURES):
        for f in sorted(files):
            if f.endswith((".md", ".dat", ".npy")) or f.endswith("_input.json") or f.endswith("shapes.json"):
                continue
            out.append(os.path.join(root, f))
    return sorted(out)


def h5_datasets(h5file):
    """sha256 of every dataset reachable in the file, by absolute path."""
    sums = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            sums["/" + name] = sha(obj[()])
    h5file.visititems(visit)
    return sums


class InspectAllFixtures(unittest.TestCase):
    def test_every_fixture_inspects(self):
        files = all_fixture_files()
        self.assertGreater(len(files), 30)
        for f in files:
            with self.subTest(file=os.path.relpath(f, FIXTURES)):
                p = run("inspect", "--json", f)
                self.assertEqual(p.returncode, 0, p.stderr)
                doc = __import__("json").loads(p.stdout)
                fj = doc["files"][0]
                for key in ("path", "format", "writer", "data_format", "layers", "tensors"):
                    self.assertIn(key, fj)
                for key in ("framework", "version", "backend"):
                    self.assertIn(key, fj["writer"])
                p = run("inspect", f)
                self.assertEqual(p.returncode, 0, p.stderr)

    def test_h5_tensor_hashes_match_h5py(self):
        for f in all_fixture_files():
            if not f.endswith((".h5", ".hdf5")) or "inputs_and_outputs" in f:
                continue
            with self.subTest(file=os.path.relpath(f, FIXTURES)):
                doc = inspect_json(f)["files"][0]
                with h5py.File(f, "r") as h:
                    sums = set(h5_datasets(h).values())
                self.assertTrue(doc["tensors"], "no tensors reported")
                for t in doc["tensors"]:
                    self.assertIn(t["sha256"], sums, t["name"])

    def test_keras_archive_hashes_match_h5py(self):
        f = fixture("keras3/flownet_mlp.keras")
        doc = inspect_json(f)["files"][0]
        self.assertEqual(doc["writer"]["framework"], "keras3")
        self.assertEqual(doc["writer"]["version"], "3.9.2")
        with zipfile.ZipFile(f) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h:
            sums = h5_datasets(h)
        self.assertEqual(len(doc["tensors"]), 8)
        for t in doc["tensors"]:
            self.assertIn(t["sha256"], sums.values())

    def test_params_hashes_match_reference_reader(self):
        for rel in ("mxnet-module/linreg-0000.params", "mxnet-gluon/mnist_mlp_gluon.params",
                    "mxnet-module/smilecnn_kerasmxnet-0000.params", "mxnet-gluon/autogluon_tabnn_embed.params",
                    "other/legacy_ndarray.v0"):
            f = fixture(rel)
            with self.subTest(file=rel):
                names, arrays, versions = ndarray_ref.load(f)
                doc = inspect_json(f)["files"][0]
                self.assertEqual(len(doc["tensors"]), len(arrays))
                for t, a, v in zip(doc["tensors"], arrays, versions):
                    self.assertEqual(t["sha256"], sha(a))
                    self.assertEqual(t["shape"], list(a.shape))
                    self.assertEqual(t["record_version"], v)

    def test_writer_detection(self):
        cases = {
            "keras1/k2c_mnist_cnn_th_weights.h5": ("keras1", "channels_first"),
            "keras2/cnn_batch_norm.h5": ("keras2", "channels_last"),
            "tfkeras/functional_embedding_conv1d.hdf5": ("tf.keras", "channels_last"),
            "mxnet-module/smilecnn_kerasmxnet-0000.params": ("keras-mxnet", "channels_first"),
            "mxnet-gluon/mnist_mlp_gluon.params": ("gluon", "channels_first"),
        }
        for rel, (fw, df) in cases.items():
            with self.subTest(file=rel):
                doc = inspect_json(fixture(rel))["files"][0]
                self.assertEqual(doc["writer"]["framework"], fw)
                if not rel.endswith("k2c_mnist_cnn_th_weights.h5"):
                    self.assertEqual(doc["data_format"], df)

    def test_version_at_the_root_only(self):
        # Keras 1 full-model saves record keras_version (1.x) at the root only; a 2.x/3.x root
        # version over a weights group without one is read as that version, not as Keras 1.
        d = tmpdir("inspect_root_version")
        for version, fw in (("2.2.4", "keras2"), ("2.9.0", "tf.keras"), ("1.2.2", "keras1")):
            write_functional(d + "/m.h5", [("in", (3,))], [("Dense", "d", {"units": 2, "activation": "linear", "use_bias": True},
                                                            ["in"], [("kernel", np.ones((3, 2))), ("bias", np.zeros(2))])],
                             ["d"], version=version)
            with h5py.File(d + "/m.h5", "r") as f:
                self.assertNotIn("keras_version", f["model_weights"].attrs)
            writer = inspect_json(d + "/m.h5")["files"][0]["writer"]
            self.assertEqual((writer["framework"], writer["version"]), (fw, version))

    def test_model_inputs_match_the_model_config(self):
        # Each Keras file with an architecture lists its inputs; names and shapes are read here from
        # the model_config h5py returns (batch_input_shape of the first layer, or InputLayer configs).
        import json
        for rel in ["keras2/cnn_batch_norm.h5", "tfkeras/gru_two_inputs.h5", "keras2/causal_conv1d_dilated_model.h5"]:
            with self.subTest(file=rel):
                with h5py.File(fixture(rel), "r") as f:
                    cfg = f.attrs["model_config"]
                    cfg = json.loads(cfg.decode() if isinstance(cfg, bytes) else cfg)
                layers = cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]
                want = []
                for l in layers:
                    c = l["config"]
                    if l["class_name"] == "InputLayer":
                        want.append((c["name"], c["batch_input_shape"][1:]))
                if not want:  # a Sequential without InputLayer: Keras names the input <first layer>_input
                    c = layers[0]["config"]
                    want.append((c["name"] + "_input", c["batch_input_shape"][1:]))
                doc = inspect_json(fixture(rel))["files"][0]
                self.assertEqual([(i["name"], i["shape"]) for i in doc["inputs"]], want)
        human = run("inspect", fixture("tfkeras/gru_two_inputs.h5"), check=0).stdout
        self.assertIn("input:       input_2 (batch, 1) float32", human)
        # A weights-only file has no architecture: no inputs, the tensors still listed.
        doc = inspect_json(fixture("tfkeras/lstm_weights_only.h5"))["files"][0]
        self.assertEqual(doc["inputs"], [])
        self.assertTrue(doc["tensors"])

    def test_odd_model_config_still_lists_the_tensors(self):
        # A model_config inspect cannot make sense of (nested 100,000 deep, null where an object
        # belongs, a number where a name belongs) leaves the tensors readable: inspect lists them
        # (checked against h5py), while convert refuses the file in one line.
        import json
        d = tmpdir("inspect_odd_config")
        src = fixture("keras2/cnn_batch_norm.h5")
        with h5py.File(src, "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        layer_null = json.loads(json.dumps(cfg))
        layer_null["config"][0]["config"] = None
        name_number = json.loads(json.dumps(cfg))
        name_number["config"][0]["config"]["name"] = 7
        variants = {
            "deep": '{"class_name":"Sequential","config":{"layers":' + "[" * 100000 + "]" * 100000 + "}}",
            "top_null": json.dumps({"class_name": "Sequential", "config": None}),
            "layer_null": json.dumps(layer_null),
            "name_number": json.dumps(name_number),
        }
        want = [(t["name"], t["sha256"]) for t in inspect_json(src)["files"][0]["tensors"]]
        self.assertEqual(len(want), 10)
        for tag, text in variants.items():
            with self.subTest(tag):
                path = os.path.join(d, tag + ".h5")
                shutil.copy(src, path)
                with h5py.File(path, "r+") as f:
                    del f.attrs["model_config"]
                    f.attrs["model_config"] = text.encode()
                doc = inspect_json(path)["files"][0]
                self.assertEqual([(t["name"], t["sha256"]) for t in doc["tensors"]], want)
                self.assertEqual(doc["inputs"], [])
                p = run("convert", path, "--to", "mxnet", "-o", os.path.join(d, tag))
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                self.assertIn(path, p.stderr)

    def test_input_dtype_as_a_keras3_dtype_policy(self):
        # Keras 3 writes most layers' dtype as a DTypePolicy object; an InputLayer that does too
        # still loads (inputs listed, the model converts and verifies).
        import json
        d = tmpdir("inspect_dtype_policy")
        src = fixture("keras3/flownet_mlp.keras")
        out = os.path.join(d, "policy.keras")
        with zipfile.ZipFile(src) as z, zipfile.ZipFile(out, "w") as o:
            for n in z.namelist():
                data = z.read(n)
                if n == "config.json":
                    cfg = json.loads(data)
                    first = cfg["config"]["layers"][0]
                    self.assertEqual(first["class_name"], "InputLayer")
                    shape = first["config"]["batch_shape"][1:]
                    first["config"]["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                                                "config": {"name": "float32"}, "registered_name": None}
                    data = json.dumps(cfg).encode()
                o.writestr(n, data)
        doc = inspect_json(out)["files"][0]
        self.assertEqual([(i["shape"], i["dtype"]) for i in doc["inputs"]], [(shape, "float32")])
        p = run("convert", out, "--to", "mxnet", "-o", os.path.join(d, "mx"), "--verify", check=0)
        self.assertIn("verify: PASS", p.stdout)

    def test_legacy_v0_gold(self):
        # MXNet's own test: six arrays, each arange(128)
        f = fixture("other/legacy_ndarray.v0")
        doc = inspect_json(f)["files"][0]
        gold = sha(np.arange(128, dtype="<f4"))
        self.assertEqual([t["sha256"] for t in doc["tensors"]], [gold] * 6)
        self.assertEqual(doc["record_version"], [0])


if __name__ == "__main__":
    unittest.main()
