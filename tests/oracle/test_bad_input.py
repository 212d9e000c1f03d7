"""Bad input: one line naming the file and the problem, exit 3, nothing written."""
import os
import shutil
import unittest
import zipfile

from wbtest import fixture, run, tmpdir


class BadInput(unittest.TestCase):
    def check(self, path, phrase, *extra):
        d = os.path.dirname(path)
        p = run("convert", path, *extra, "--to", "keras", "-o", d + "/out.h5")
        self.assertEqual(p.returncode, 3, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("weightbridge: " + path), lines[0])
        self.assertIn(phrase, lines[0])
        self.assertNotIn("HDF5-DIAG", p.stderr + p.stdout)
        self.assertEqual([f for f in os.listdir(d) if f.startswith("out")], [])
        p = run("inspect", path)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertNotIn("HDF5-DIAG", p.stderr + p.stdout)

    def test_html_saved_as_params(self):
        d = tmpdir("bad_html")
        open(d + "/model-0000.params", "w").write("<html><body>404 Not Found</body></html>\n")
        self.check(d + "/model-0000.params", "<html")

    def test_lfs_pointer(self):
        d = tmpdir("bad_lfs")
        open(d + "/model-0000.params", "w").write(
            "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n")
        self.check(d + "/model-0000.params", "LFS")

    def test_truncated_params(self):
        d = tmpdir("bad_trunc")
        data = open(fixture("mxnet-module/linreg-0000.params"), "rb").read()
        open(d + "/t.params", "wb").write(data[:100])
        self.check(d + "/t.params", "truncated")

    def test_not_hdf5_with_h5_name(self):
        d = tmpdir("bad_h5")
        open(d + "/m.h5", "wb").write(b"this is not an hdf5 file at all" * 10)
        self.check(d + "/m.h5", "HDF5")

    def test_truncated_hdf5(self):
        d = tmpdir("bad_h5_trunc")
        data = open(fixture("keras2/cnn_batch_norm.h5"), "rb").read()
        open(d + "/m.h5", "wb").write(data[: len(data) // 2])
        p = run("convert", d + "/m.h5", "--to", "mxnet", "-o", d + "/out")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertNotIn("HDF5-DIAG", p.stderr)

    def test_zip_without_weights(self):
        d = tmpdir("bad_zip")
        with zipfile.ZipFile(d + "/m.keras", "w") as z:
            z.writestr("config.json", "{}")
            z.writestr("metadata.json", "{}")
        self.check(d + "/m.keras", "model.weights.h5")

    def test_malformed_symbol_json(self):
        d = tmpdir("bad_json")
        open(d + "/m-symbol.json", "w").write('{"nodes": [ {"op": "null", "name": "data", "inputs": []} ')
        shutil.copy(fixture("mxnet-module/linreg-0000.params"), d + "/m-0000.params")
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/out.h5")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("m-symbol.json", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_missing_parameter_is_a_mapping_error(self):
        d = tmpdir("bad_missing")
        shutil.copy(fixture("mxnet-gluon/mnist_mlp_gluon-symbol.json"), d + "/m-symbol.json")
        shutil.copy(fixture("mxnet-module/linreg-0000.params"), d + "/m-0000.params")
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/out.h5")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertFalse(os.path.exists(d + "/out.h5"))

    def test_usage_errors(self):
        self.assertEqual(run("convert").returncode, 2)
        self.assertEqual(run("frobnicate").returncode, 2)
        src = fixture("keras2/cnn_batch_norm.h5")
        self.assertEqual(run("convert", src, "--to", "caffe", "-o", "/tmp/x").returncode, 2)

    def test_input_is_never_overwritten(self):
        d = tmpdir("bad_overwrite")
        shutil.copy(fixture("keras2/cnn_batch_norm.h5"), d + "/m.h5")
        before = open(d + "/m.h5", "rb").read()
        p = run("convert", d + "/m.h5", "--to", "keras", "-o", d + "/m.h5")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(open(d + "/m.h5", "rb").read(), before)

    def test_keras1_theano_ambiguity_is_refused(self):
        d = tmpdir("k1_flip")
        w, a = fixture("keras1/k2c_mnist_cnn_th_weights.h5"), fixture("keras1/k2c_mnist_cnn_th_arch.json")
        p = run("convert", w, "--arch", a, "--to", "mxnet", "-o", d + "/m")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("--kernel-flip", p.stderr)
        run("convert", w, "--arch", a, "--kernel-flip", "yes", "--to", "mxnet", "-o", d + "/m", check=0)


if __name__ == "__main__":
    unittest.main()
