"""Crash-safe output. A few-hundred-MB Keras model is converted while the converter is killed
(SIGKILL) after random delays: the target must then hold the old file or the complete new one,
never a partial file (stale *.wbtmp-* files are accepted after SIGKILL: nothing can remove
them). Ordinary failures part-way (a damaged tensor found while writing, a symbol path that
cannot be replaced after the params file was written, a refused mapping) must leave the old
files untouched and no temporary files behind.

WB_CRASH_MB (default 320) sets the model size, WB_CRASH_KILLS (default 8) the kills per target.
"""
import glob
import hashlib
import json
import os
import random
import signal
import subprocess
import time
import unittest

import h5py
import numpy as np

from wbtest import BIN, run, tmpdir

SIZE_MB = int(os.environ.get("WB_CRASH_MB", "320"))
KILLS = int(os.environ.get("WB_CRASH_KILLS", "8"))
WIDTH = 4096  # one kernel = 64 MiB


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def h5_digest(path):
    """sha256 of every dataset, by path (HDF5 bytes differ between runs by object timestamps)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = hashlib.sha256(obj[()].tobytes()).hexdigest()
        f.visititems(visit)
        out["@model_config"] = f.attrs["model_config"]
    return out


def write_model(path, n_layers, damage_last=False):
    """A Keras 2 full-model file: Sequential of Dense(WIDTH) layers. With damage_last, the last
    kernel is gzip-chunked and its first chunk overwritten, so reading it fails while writing."""
    layers = []
    with h5py.File(path, "w") as f:
        mw = f.create_group("model_weights")
        names = []
        for i in range(n_layers):
            n = "dense_%d" % (i + 1)
            names.append(n.encode())
            g = mw.create_group(n)
            g.attrs["weight_names"] = np.array([(n + "/kernel:0").encode(), (n + "/bias:0").encode()])
            k = np.empty((WIDTH, WIDTH), dtype="<f4")
            k[:] = np.arange(WIDTH, dtype="<f4") * (i + 1) / WIDTH
            if damage_last and i == n_layers - 1:
                g.create_dataset(n + "/kernel:0", data=k, chunks=(WIDTH // 4, WIDTH), compression="gzip")
            else:
                g[n + "/kernel:0"] = k
            g[n + "/bias:0"] = np.full(WIDTH, 0.5, dtype="<f4")
            c = {"name": n, "units": WIDTH, "activation": "relu", "use_bias": True}
            if i == 0:
                c["batch_input_shape"] = [None, WIDTH]
            layers.append({"class_name": "Dense", "config": c})
        mw.attrs["layer_names"] = np.array(names)
        for obj in (f, mw):
            obj.attrs["keras_version"] = b"2.2.4"
            obj.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "big", "layers": layers}})
        if damage_last:
            info = f["model_weights/%s/%s/kernel:0" % (n, n)].id.get_chunk_info(0)
    if damage_last:
        with open(path, "r+b") as fh:
            fh.seek(info.byte_offset + 4)
            fh.write(b"\xff" * 64)


def temps(d):
    return sorted(glob.glob(os.path.join(d, "*.wbtmp-*")))


class CrashSafety(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tmpdir("crash_safety")
        cls.src = os.path.join(cls.d, "big.h5")
        write_model(cls.src, max(1, SIZE_MB // 64))
        # a small old model whose conversions are the "old" files at the targets
        cls.small = os.path.join(cls.d, "small.h5")
        write_model_small(cls.small)

    def old_pair(self, d):
        run("convert", self.small, "--to", "mxnet", "-o", d + "/out", check=0)
        return sha(d + "/out-symbol.json"), sha(d + "/out-0000.params")

    def test_sigkill_during_mxnet_write(self):
        ref = os.path.join(self.d, "ref")
        t0 = time.monotonic()
        run("convert", self.src, "--to", "mxnet", "-o", ref, check=0)
        t_ref = time.monotonic() - t0
        new = (sha(ref + "-symbol.json"), sha(ref + "-0000.params"))
        d = tmpdir("crash_safety_mx")
        old = self.old_pair(d)
        rng = random.Random(1234)
        seen = {"old": 0, "new": 0, "mixed": 0, "stale temps": 0}
        for i in range(KILLS):
            p = subprocess.Popen([BIN, "convert", self.src, "--to", "mxnet", "-o", d + "/out"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.02, 1.5) * t_ref)
            p.send_signal(signal.SIGKILL)
            p.wait()
            got = (sha(d + "/out-symbol.json"), sha(d + "/out-0000.params"))
            self.assertIn(got[0], (old[0], new[0]), "partial symbol after kill %d" % i)
            self.assertIn(got[1], (old[1], new[1]), "partial params after kill %d" % i)
            state = "old" if got == old else "new" if got == new else "mixed"
            seen[state] += 1
            seen["stale temps"] += len(temps(d))
            for t in temps(d):
                os.remove(t)
            if state != "old":  # start again from the old pair
                old = self.old_pair(d)
        print("\nmxnet: reference conversion %.1f s; after %d kills: %s" % (t_ref, KILLS, seen))
        # "mixed" needs a kill between the two renames (documented window); not expected here.
        self.assertEqual(seen["mixed"], 0)

    def test_sigkill_during_keras_write(self):
        ref = os.path.join(self.d, "ref.h5")
        t0 = time.monotonic()
        run("convert", self.src, "--to", "keras", "-o", ref, check=0)
        t_ref = time.monotonic() - t0
        new = h5_digest(ref)
        d = tmpdir("crash_safety_keras")
        out = d + "/out.h5"
        run("convert", self.small, "--to", "keras", "-o", out, check=0)
        old = sha(out)
        rng = random.Random(4321)
        seen = {"old": 0, "new": 0, "stale temps": 0}
        for i in range(KILLS):
            p = subprocess.Popen([BIN, "convert", self.src, "--to", "keras", "-o", out],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.02, 1.5) * t_ref)
            p.send_signal(signal.SIGKILL)
            p.wait()
            if sha(out) == old:
                seen["old"] += 1
            else:
                self.assertEqual(h5_digest(out), new, "partial or different .h5 after kill %d" % i)
                seen["new"] += 1
                os.remove(out)
                run("convert", self.small, "--to", "keras", "-o", out, check=0)
                old = sha(out)
            seen["stale temps"] += len(temps(d))
            for t in temps(d):
                os.remove(t)
        print("\nkeras: reference conversion %.1f s; after %d kills: %s" % (t_ref, KILLS, seen))

    def test_failure_while_writing_keeps_old_files(self):
        bad = os.path.join(self.d, "damaged.h5")
        write_model(bad, 2, damage_last=True)
        d = tmpdir("crash_safety_fail")
        old = self.old_pair(d)
        p = run("convert", bad, "--to", "mxnet", "-o", d + "/out")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot read dataset", p.stderr)
        self.assertEqual((sha(d + "/out-symbol.json"), sha(d + "/out-0000.params")), old)
        self.assertEqual(temps(d), [])
        run("convert", self.small, "--to", "keras", "-o", d + "/out.h5", check=0)
        old_h5 = sha(d + "/out.h5")
        p = run("convert", bad, "--to", "keras", "-o", d + "/out.h5")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(sha(d + "/out.h5"), old_h5)
        self.assertEqual(temps(d), [])

    def test_failure_after_params_before_symbol(self):
        d = tmpdir("crash_safety_symdir")
        run("convert", self.small, "--to", "mxnet", "-o", d + "/out", check=0)
        old_params = sha(d + "/out-0000.params")
        os.remove(d + "/out-symbol.json")
        os.mkdir(d + "/out-symbol.json")  # the symbol cannot be put in place
        p = run("convert", self.src, "--to", "mxnet", "-o", d + "/out")
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(sha(d + "/out-0000.params"), old_params)
        self.assertEqual(temps(d), [])

    def test_refused_conversion_writes_nothing(self):
        d = tmpdir("crash_safety_refused")
        arch = d + "/arch.json"
        with open(arch, "w") as f:  # one layer too few: the file's dense_2 matches nothing
            json.dump({"class_name": "Sequential", "config": {"name": "s", "layers": [
                {"class_name": "Dense", "config": {"name": "dense_1", "units": WIDTH, "batch_input_shape": [None, WIDTH]}}]}}, f)
        old = self.old_pair(d)
        p = run("convert", self.small, "--arch", arch, "--to", "mxnet", "-o", d + "/out")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual((sha(d + "/out-symbol.json"), sha(d + "/out-0000.params")), old)
        self.assertEqual(temps(d), [])


def write_model_small(path):
    with h5py.File(path, "w") as f:
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense_1", b"dense_2"])
        layers = []
        for i, n in enumerate(["dense_1", "dense_2"]):
            g = mw.create_group(n)
            g.attrs["weight_names"] = np.array([(n + "/kernel:0").encode(), (n + "/bias:0").encode()])
            g[n + "/kernel:0"] = np.full((WIDTH if i == 0 else 2, 2), 0.25, dtype="<f4")
            g[n + "/bias:0"] = np.zeros(2, dtype="<f4")
            c = {"name": n, "units": 2}
            if i == 0:
                c["batch_input_shape"] = [None, WIDTH]
            layers.append({"class_name": "Dense", "config": c})
        for obj in (f, mw):
            obj.attrs["keras_version"] = b"2.2.4"
            obj.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "small", "layers": layers}})


if __name__ == "__main__":
    unittest.main()
