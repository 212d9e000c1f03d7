#!/usr/bin/python3
"""Builds seed corpora for the fuzz targets, one folder per target, outside the repository.

Sources: the real framework files in the fixtures folder (read in place, copied only into the
seed folder of a build tree), files the project generates itself (`weightbridge demo`), and small
synthetic files made here with numpy/h5py/struct. Files above MAX_SEED bytes are skipped so that
each execution stays fast.

usage: make_seeds.py --fixtures DIR --bin WEIGHTBRIDGE --out DIR
"""
import argparse
import glob
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile

import h5py
import numpy as np

MAX_SEED = 512 * 1024
TARGETS = ["params_list", "npz", "npy", "symbol", "keras_h5", "keras_archive", "keras_json"]


def classify(path):
    """The fuzz target a file seeds, by content."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras_h5"
    if head.startswith(b"PK"):
        return "keras_archive" if path.endswith(".keras") else "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:8] == struct.pack("<Q", 0x112):
        return "params_list"
    if head.lstrip().startswith(b"{"):
        try:
            j = json.load(open(path))
        except ValueError:
            return None
        if isinstance(j, dict) and "nodes" in j:
            return "symbol"
        if isinstance(j, dict) and ("class_name" in j or "modelTopology" in j):
            return "keras_json"
    return None


def put(out, target, name, data):
    if len(data) <= MAX_SEED:
        with open(os.path.join(out, target, name), "wb") as f:
            f.write(data)


def synthetic_params(out):
    """NDArray list files with V0, V1, V2 (dense, row_sparse, csr) and V3 records."""
    def v2_dense(shape, flag, payload, magic=0xF993FAC9):
        b = struct.pack("<Ii", magic, 0) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<q", d) for d in shape)
        return b + struct.pack("<iii", 1, 0, flag) + payload

    def names(ns):
        return struct.pack("<Q", len(ns)) + b"".join(struct.pack("<Q", len(n)) + n for n in ns)

    def listfile(records, ns):
        return struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records) + names(ns)

    f32 = np.arange(6, dtype="<f4").tobytes()
    put(out, "params_list", "v2_dense.params", listfile([v2_dense([2, 3], 0, f32)], [b"arg:w"]))
    put(out, "params_list", "v3_dense.params", listfile([v2_dense([2, 3], 0, f32, 0xF993FACA)], [b"w"]))
    put(out, "params_list", "v3_scalar.params", listfile([struct.pack("<Iii", 0xF993FACA, 0, 0) + struct.pack("<iii", 1, 0, 0) + f32[:4]], [b"s"]))
    v1 = struct.pack("<II", 0xF993FAC8, 2) + struct.pack("<qq", 2, 3) + struct.pack("<iii", 1, 0, 0) + f32
    put(out, "params_list", "v1.params", listfile([v1], []))
    v0 = struct.pack("<III", 2, 2, 3) + struct.pack("<iii", 1, 0, 0) + f32
    put(out, "params_list", "v0.params", listfile([v0], [b"legacy"]))
    # row_sparse (4, 3) with rows 1 and 3 stored
    rs = struct.pack("<Ii", 0xF993FAC9, 1) + struct.pack("<Iqq", 2, 2, 3) + struct.pack("<Iqq", 2, 4, 3)
    rs += struct.pack("<iii", 1, 0, 0) + struct.pack("<i", 6) + struct.pack("<Iq", 1, 2) + f32 + struct.pack("<qq", 1, 3)
    put(out, "params_list", "row_sparse.params", listfile([rs], [b"rs"]))
    # csr (2, 3) with 2 values
    csr = struct.pack("<Ii", 0xF993FAC9, 2) + struct.pack("<Iq", 1, 2) + struct.pack("<Iqq", 2, 2, 3)
    csr += struct.pack("<iii", 1, 0, 0) + struct.pack("<i", 6) + struct.pack("<Iq", 1, 3) + struct.pack("<i", 6) + struct.pack("<Iq", 1, 2)
    csr += f32[:8] + struct.pack("<qqq", 0, 1, 2) + struct.pack("<qq", 0, 2)
    put(out, "params_list", "csr.params", listfile([csr], [b"csr"]))
    for flag, dt in [(1, "<f8"), (2, "<f2"), (3, "u1"), (4, "<i4"), (5, "i1"), (6, "<i8")]:
        put(out, "params_list", "dtype%d.params" % flag, listfile([v2_dense([3], flag, np.ones(3, dtype=dt).tobytes())], [b"x"]))


def synthetic_numpy(out):
    arrays = {"w": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.ones(3, dtype="<f2"),
              "i": np.arange(4, dtype="<i8"), "f": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)),
              "s": np.float32(1.5)}
    for k, a in arrays.items():
        buf = io.BytesIO()
        np.save(buf, a)
        put(out, "npy", k + ".npy", buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    put(out, "npz", "plain.npz", buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    put(out, "npz", "compressed.npz", buf.getvalue())


def synthetic_keras(out, work):
    """A small Keras 3 .weights.h5 and its .keras archive."""
    path = os.path.join(work, "k3.weights.h5")
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g["0"] = np.ones((3, 2), dtype="<f4")
        g["1"] = np.zeros(2, dtype="<f4")
        f.create_group("optimizer/vars")
    data = open(path, "rb").read()
    put(out, "keras_h5", "k3.weights.h5", data)
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 3]}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2, "use_bias": True}}]}}
    for method, name in [(zipfile.ZIP_STORED, "stored.keras"), (zipfile.ZIP_DEFLATED, "deflated.keras")]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", data)
        put(out, "keras_archive", name, buf.getvalue())
    put(out, "keras_json", "k3_sequential.json", json.dumps(config).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    for t in TARGETS:
        os.makedirs(os.path.join(a.out, t))
    files = sorted(p for p in glob.glob(os.path.join(a.fixtures, "**", "*"), recursive=True) if os.path.isfile(p))
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([a.bin, "demo", work], check=True, capture_output=True)
        files += sorted(p for p in glob.glob(os.path.join(work, "**", "*"), recursive=True) if os.path.isfile(p))
        for p in files:
            t = classify(p)
            if not t:
                continue
            data = open(p, "rb").read()
            name = os.path.relpath(p, a.fixtures if p.startswith(a.fixtures) else work).replace("/", "_")
            put(a.out, t, name, data)
            if t == "keras_h5":  # the architecture stored inside is a Keras model JSON seed
                try:
                    with h5py.File(p, "r") as f:
                        mc = f.attrs.get("model_config")
                    if mc is not None:
                        put(a.out, "keras_json", name + ".json", mc if isinstance(mc, bytes) else mc.encode())
                except OSError:
                    pass
            if t == "keras_archive":
                with zipfile.ZipFile(p) as z:
                    put(a.out, "keras_json", name + ".config.json", z.read("config.json"))
                    put(a.out, "keras_h5", name + ".weights.h5", z.read("model.weights.h5"))
        synthetic_params(a.out)
        synthetic_numpy(a.out)
        synthetic_keras(a.out, work)
    for t in TARGETS:
        print("%-14s %d seeds" % (t, len(os.listdir(os.path.join(a.out, t)))))


if __name__ == "__main__":
    main()
