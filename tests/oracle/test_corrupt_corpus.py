"""Corrupt-input corpus, generated here: one broken input per validation rule of every reader,
run through the CLI (`inspect` and/or `convert`). Each must exit 3 with one error line naming the
file and containing the rule's phrase, print no HDF5 diagnostics, write nothing, and stay within
a low address-space limit (no allocation sized by a lying header). Prints the number of cases and
rules at the end.

The limit (RLIMIT_AS) is not applied under AddressSanitizer, which reserves terabytes of virtual
shadow memory; there the sanitizer itself reports out-of-bounds or failed allocations.
"""
import io
import json
import os
import resource
import struct
import subprocess
import unittest
import zipfile
import zlib

import h5py
import numpy as np

from wbtest import BIN, tmpdir

# About 256 MiB for the binary, its shared libraries and HDF5's caches, plus 512 MiB of headroom.
AS_LIMIT = (256 + 512) << 20
SANITIZED = "ASAN_OPTIONS" in os.environ

RULES = []  # (reader, rule, generator)


def rule(reader, name):
    def wrap(fn):
        RULES.append((reader, name, fn))
        return fn
    return wrap


# ---------------------------------------------------------------------------------------------
# Builders of valid files that the rules then break.

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


def shape_bytes(shape, ndim=None, fmt_ndim="<I"):
    return struct.pack(fmt_ndim, len(shape) if ndim is None else ndim) + b"".join(struct.pack("<q", d) for d in shape)


def v2_record(shape, payload, flag=0, magic=V2, stype=0, ndim=None, ctx=(1, 0)):
    return (struct.pack("<Ii", magic, stype) + shape_bytes(shape, ndim) + struct.pack("<ii", *ctx)
            + struct.pack("<i", flag) + payload)


def names_block(names, count=None):
    return struct.pack("<Q", len(names) if count is None else count) + b"".join(
        struct.pack("<Q", len(n)) + n for n in names)


def list_file(records, names, count=None, magic=0x112):
    return (struct.pack("<QQQ", magic, 0, len(records) if count is None else count) + b"".join(records)
            + names_block(names))


def good_params():
    """arg:fc_weight (2, 3) and arg:fc_bias (2,), float32, matching good_symbol()."""
    w = np.arange(6, dtype="<f4").tobytes()
    b = np.ones(2, dtype="<f4").tobytes()
    return list_file([v2_record([2, 3], w), v2_record([2], b)], [b"arg:fc_weight", b"arg:fc_bias"])


def good_params_boundaries():
    """Offsets after each structural field of good_params(), with a label."""
    out = [(8, "after magic"), (16, "after reserved"), (24, "after count"), (28, "after record magic"),
           (32, "after storage type"), (36, "after ndim"), (44, "inside dims"), (52, "after dims"),
           (60, "after context"), (64, "after type_flag"), (70, "inside payload")]
    rec0 = 4 + 4 + 4 + 16 + 8 + 4 + 24
    rec1 = 4 + 4 + 4 + 8 + 8 + 4 + 8
    names_at = 24 + rec0 + rec1
    out += [(24 + rec0, "after record 0"), (names_at, "before name count"), (names_at + 8, "after name count"),
            (names_at + 12, "inside name length"), (names_at + 16, "after name length"),
            (names_at + 20, "inside name")]
    return out


def good_symbol(fc_attrs=None, extra=None):
    attrs = {"num_hidden": "2"}
    attrs.update(fc_attrs or {})
    sym = {"nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "fc_weight", "inputs": []},
        {"op": "null", "name": "fc_bias", "inputs": []},
        {"op": "FullyConnected", "name": "fc", "attrs": attrs, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
        "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10300]}}
    if extra:
        extra(sym)
    return sym


def conv_symbol(attrs, wshape):
    """data (1, 4, 8, 8) -> Convolution -> output, with its weight and bias variables."""
    a = {"kernel": "(3, 3)", "num_filter": "4"}
    a.update(attrs)
    sym = {"nodes": [
        {"op": "null", "name": "data", "attrs": {"__shape__": "(1, 4, 8, 8)"}, "inputs": []},
        {"op": "null", "name": "conv_weight", "inputs": []},
        {"op": "null", "name": "conv_bias", "inputs": []},
        {"op": "Convolution", "name": "conv", "attrs": a, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
        "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10300]}}
    n = int(np.prod(wshape))
    params = list_file([v2_record(list(wshape), np.zeros(n, dtype="<f4").tobytes()),
                        v2_record([wshape[0]], np.zeros(wshape[0], dtype="<f4").tobytes())],
                       [b"arg:conv_weight", b"arg:conv_bias"])
    return sym, params


def npy_bytes(header, payload=b"", version=1):
    text = header.encode("latin1")
    if version == 1:
        pad = (-(10 + len(text) + 1)) % 64
        text = text + b" " * pad + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload
    pad = (-(12 + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(text)) + text + payload


def npy_of(arr):
    b = io.BytesIO()
    np.save(b, arr)
    return b.getvalue()


def zip_bytes(members, method=zipfile.ZIP_STORED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return b.getvalue()


def patch_central(data, field_offset, fmt, value, member=0):
    """Rewrites a field of the member-th central directory header."""
    data = bytearray(data)
    at = -1
    for _ in range(member + 1):
        at = data.index(b"PK\x01\x02", at + 1)
    struct.pack_into(fmt, data, at + field_offset, value)
    return bytes(data)


def patch_local(data, field_offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, data.index(b"PK\x03\x04") + field_offset, value)
    return bytes(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def h5_bytes(build, d, name="tmp.h5", **kw):
    path = os.path.join(d, "_" + name)
    with h5py.File(path, "w", **kw) as f:
        build(f)
    data = read_file(path)
    os.remove(path)
    return data


def dense_weights(f, root=None, layer="dense_1", kshape=(3, 2)):
    g = f if root is None else f.require_group(root)
    g.attrs["layer_names"] = np.array([layer.encode()])
    g.attrs["keras_version"] = b"2.2.4"
    g.attrs["backend"] = b"tensorflow"
    lg = g.create_group(layer)
    lg.attrs["weight_names"] = np.array([(layer + "/kernel:0").encode(), (layer + "/bias:0").encode()])
    lg[layer + "/kernel:0"] = np.ones(kshape, dtype="<f4")
    lg[layer + "/bias:0"] = np.zeros(kshape[-1], dtype="<f4")
    return lg


def keras_seq(layers, input_shape=(None, 3)):
    layers = [dict(l) for l in layers]
    if layers and "batch_input_shape" not in layers[0]["config"]:
        layers[0]["config"]["batch_input_shape"] = list(input_shape)
    return {"class_name": "Sequential", "config": {"name": "s", "layers": layers},
            "keras_version": "2.2.4", "backend": "tensorflow"}


def dense_layer(name="dense_1", **cfg):
    c = {"name": name, "units": 2, "use_bias": True, "activation": "linear"}
    c.update(cfg)
    return {"class_name": "Dense", "config": c}


def functional(layers, outputs):
    return {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["in", 0, 0]],
                                              "output_layers": [[o, 0, 0] for o in outputs]},
            "keras_version": "2.2.4", "backend": "tensorflow"}


def flayer(cls, name, inbound, **cfg):
    c = {"name": name}
    c.update(cfg)
    return {"class_name": cls, "name": name, "config": c,
            "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else []}


# Commands: {f} = the broken file, {d} = the case folder (outputs go to {d}/out...).
INSPECT = ["inspect", "{f}"]
TO_KERAS = ["convert", "{f}", "{d}/good-symbol.json", "--to", "keras", "-o", "{d}/out.h5"]
SYM_TO_KERAS = ["convert", "{f}", "{d}/good.params", "--to", "keras", "-o", "{d}/out.h5"]
TO_MXNET = ["convert", "{f}", "--to", "mxnet", "-o", "{d}/out"]
ARCH_TO_MXNET = ["convert", "{d}/weights.h5", "{f}", "--to", "mxnet", "-o", "{d}/out"]
PAIR_TO_KERAS = ["convert", "{f}", "{d}/pair.params", "--to", "keras", "-o", "{d}/out.h5"]


def case(label, data, phrase, cmds=(INSPECT, TO_KERAS), name="bad.params", aux=None):
    return dict(label=label, data=data, phrase=phrase, cmds=cmds, name=name, aux=aux or {})


# ---------------------------------------------------------------------------------------------
# MXNet NDArray list files

W6 = np.arange(6, dtype="<f4").tobytes()


@rule("params", "truncation at every structural boundary")
def _(d):
    data = good_params()
    return [case("cut %s (%d bytes)" % (what, at), data[:at], "truncated") for at, what in good_params_boundaries()]


@rule("params", "wrong magic")
def _(d):
    return [case("magic 0x113", list_file([v2_record([2, 3], W6)], [b"a"], magic=0x113), "bad magic")]


@rule("params", "text or HTML saved under a .params name")
def _(d):
    return [case("html", b"<html><body>404 Not Found</body></html>\n", "bad magic")]


@rule("params", "Git LFS pointer")
def _(d):
    return [case("lfs", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n", "LFS")]


@rule("params", "empty file")
def _(d):
    return [case("empty", b"", "truncated")]


@rule("params", "array count past the end of the file")
def _(d):
    return [case("count 2^62", list_file([v2_record([2, 3], W6)], [b"a"], count=1 << 62), "array count"),
            case("count 2^64-1", list_file([v2_record([2, 3], W6)], [b"a"], count=(1 << 64) - 1), "array count")]


@rule("params", "huge ndim")
def _(d):
    return [case("V2 ndim 1000", list_file([v2_record([2, 3], W6, ndim=1000)], [b"a"]), "out of range"),
            case("V1 ndim 2^31", list_file([struct.pack("<II", V1, 1 << 31) + W6], [b"a"]), "out of range"),
            case("V0 ndim 0x12345", list_file([struct.pack("<II", 0x12345, 2) + W6], [b"a"]), "maximum rank")]


@rule("params", "negative ndim")
def _(d):
    return [case("V2 ndim -1", list_file([v2_record([2, 3], W6, ndim=-1 & 0xFFFFFFFF)], [b"a"]), "out of range"),
            case("V3 ndim -2", list_file([struct.pack("<Iii", V3, 0, -2) + W6], [b"a"]), "out of range")]


@rule("params", "negative dimension")
def _(d):
    return [case("dim -3", list_file([v2_record([2, -3], W6)], [b"a"]), "negative dimension")]


@rule("params", "dims whose product overflows 64 bits")
def _(d):
    return [case("2^40 x 2^40", list_file([v2_record([1 << 40, 1 << 40], W6)], [b"a"]), "overflows"),
            case("2^62 x 4 bytes", list_file([v2_record([1 << 62], W6)], [b"a"]), "overflows"),
            case("32 dims of 2^2", list_file([v2_record([4] * 32, W6)], [b"a"]), "overflows")]


@rule("params", "payload past the end of the file")
def _(d):
    return [case("1000x1000 float32 in 100 bytes", list_file([v2_record([1000, 1000], W6)], [b"a"]), "truncated"),
            case("float64 payload of a float32 size", list_file([v2_record([2, 3], W6, flag=1)], [b"a"]), "truncated")]


@rule("params", "unknown dtype code")
def _(d):
    return [case("type_flag 99", list_file([v2_record([2, 3], W6, flag=99)], [b"a"]), "unknown type_flag"),
            case("type_flag -1", list_file([v2_record([2, 3], W6, flag=-1)], [b"a"]), "unknown type_flag")]


@rule("params", "unknown storage type")
def _(d):
    return [case("stype 7", list_file([v2_record([2, 3], W6, stype=7)], [b"a"]), "unknown storage type")]


@rule("params", "sparse storage in a V3 record")
def _(d):
    return [case("V3 row_sparse", list_file([v2_record([2, 3], W6, magic=V3, stype=1)], [b"a"]), "dense only")]


@rule("params", "name count neither 0 nor the array count")
def _(d):
    rec = v2_record([2, 3], W6)
    data = struct.pack("<QQQ", 0x112, 0, 1) + rec + names_block([b"a", b"b"])
    return [case("2 names for 1 array", data, "name count")]


@rule("params", "name longer than the file")
def _(d):
    rec = v2_record([2, 3], W6)
    data = struct.pack("<QQQ", 0x112, 0, 1) + rec + struct.pack("<QQ", 1, 1 << 40) + b"abc"
    return [case("name length 2^40", data, "truncated"),
            case("name length 2^64-1", data[:-11] + struct.pack("<Q", (1 << 64) - 1) + b"abc", "truncated")]


@rule("params", "duplicate names")
def _(d):
    return [case("two 'arg:w'", list_file([v2_record([2, 3], W6), v2_record([2, 3], W6)], [b"arg:w", b"arg:w"]),
                 "duplicate name")]


def sparse_record(stype, storage, shape, aux, values, aux_payloads, flag=0):
    b = struct.pack("<Ii", V2, stype) + shape_bytes(storage) + shape_bytes(shape) + struct.pack("<ii", 1, 0)
    b += struct.pack("<i", flag)
    for t, s in aux:
        b += struct.pack("<i", t) + shape_bytes(s)
    return b + values + b"".join(aux_payloads)


@rule("params", "sparse aux array of a non-integer dtype")
def _(d):
    rec = sparse_record(1, [2, 3], [4, 3], [(0, [2])], W6, [np.array([1, 3], "<f4").tobytes()])
    return [case("row_sparse float32 indices", list_file([rec], [b"rs"]), "non-integer dtype")]


@rule("params", "sparse shapes that disagree")
def _(d):
    rs = sparse_record(1, [2, 2], [4, 3], [(6, [2])], W6, [np.array([1, 3], "<i8").tobytes()])
    rs_idx = sparse_record(1, [2, 3], [4, 3], [(6, [5])], W6, [np.zeros(5, "<i8").tobytes()])
    csr = sparse_record(2, [2], [2, 3, 1], [(6, [3]), (6, [2])], W6[:8],
                        [np.array([0, 1, 2], "<i8").tobytes(), np.array([0, 2], "<i8").tobytes()])
    return [case("row_sparse storage (2, 2) for shape (4, 3)", list_file([rs], [b"rs"]), "inconsistent row_sparse"),
            case("row_sparse index shape (5,) for 2 rows", list_file([rs_idx], [b"rs"]), "inconsistent row_sparse"),
            case("csr of rank 3", list_file([csr], [b"c"]), "inconsistent csr")]


@rule("params", "sparse aux payload past the end of the file")
def _(d):
    rec = sparse_record(1, [2, 3], [4, 3], [(6, [2])], W6, [b"\x01"])
    return [case("row_sparse indices cut", list_file([rec], [])[:-8], "truncated")]


# ---------------------------------------------------------------------------------------------
# .npy (MXNet 2.0 mx.np.save)

NPY_OK = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"


def npy_case(label, data, phrase):
    return case(label, data, phrase, name="bad.npy")


@rule("npy", "truncation at every structural boundary")
def _(d):
    data = npy_bytes(NPY_OK, W6)
    return [npy_case("cut at %d" % n, data[:n], "truncated") for n in (7, 9, 40, len(data) - 24, len(data) - 1)]


@rule("npy", "unsupported format version")
def _(d):
    return [npy_case("version 4", b"\x93NUMPY\x04\x00" + npy_bytes(NPY_OK, W6)[8:], "version 4.0")]


@rule("npy", "header length past the end of the file")
def _(d):
    return [npy_case("v1 length 60000", b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{}", "truncated"),
            npy_case("v2 length 2^31", b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 31) + b"{}", "limit")]


@rule("npy", "header that is not a dict literal")
def _(d):
    return [npy_case("a list", npy_bytes("['descr', '<f4']", W6), "expects '{'"),
            npy_case("unterminated string", npy_bytes("{'descr': '<f4", W6), "unterminated")]


@rule("npy", "missing key")
def _(d):
    return [npy_case("no shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", W6), "lacks one of")]


@rule("npy", "extra or repeated key")
def _(d):
    return [npy_case("extra key", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", W6),
                     "unexpected or repeated key"),
            npy_case("repeated shape", npy_bytes("{'descr': '<f4', 'shape': (6,), 'fortran_order': False, 'shape': (6,)}", W6),
                     "unexpected or repeated key")]


@rule("npy", "wrong-typed value")
def _(d):
    return [npy_case("fortran_order 'no'", npy_bytes("{'descr': '<f4', 'fortran_order': 'no', 'shape': (6,)}", W6), "True or False"),
            npy_case("shape a string", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': '6'}", W6), "expects '('"),
            npy_case("descr a number", npy_bytes("{'descr': 4, 'fortran_order': False, 'shape': (6,)}", W6), "quoted string")]


@rule("npy", "negative or huge dimension")
def _(d):
    return [npy_case("dim -6", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", W6), "non-negative"),
            npy_case("dim 10^30", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000000000000000000,)}", W6), "too large")]


@rule("npy", "dims whose product overflows 64 bits")
def _(d):
    return [npy_case("2^40 x 2^40", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}", W6), "overflows")]


@rule("npy", "rank above 32")
def _(d):
    return [npy_case("33 dims", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (%s)}" % ("1, " * 33), W6), "more than 32")]


@rule("npy", "unknown or unsupported dtype")
def _(d):
    return [npy_case("descr <x9", npy_bytes("{'descr': '<x9', 'fortran_order': False, 'shape': (6,)}", W6), "not supported"),
            npy_case("big-endian >f4", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (6,)}", W6), "big-endian"),
            npy_case("structured", npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", W6), "structured")]


@rule("npy", "payload past the end of the file")
def _(d):
    return [npy_case("1000 x float32 in 24 bytes", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,)}", W6), "truncated")]


# ---------------------------------------------------------------------------------------------
# npz (zip of .npy members)

def npz_case(label, data, phrase):
    return case(label, data, phrase, name="bad.npz")


NPZ_MEMBERS = [("arg:fc_weight.npy", npy_of(np.arange(6, dtype="<f4").reshape(2, 3))),
               ("arg:fc_bias.npy", npy_of(np.ones(2, dtype="<f4")))]


@rule("npz", "not a readable zip")
def _(d):
    good = zip_bytes(NPZ_MEMBERS)
    return [npz_case("local header then junk", b"PK\x03\x04" + b"\x00" * 200, "not a readable zip"),
            npz_case("cut in half", good[:len(good) // 2], "not a readable zip"),
            npz_case("end record only, wrong count", b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 5, 5, 100, 0, 0), "not a readable zip")]


@rule("npz", "no .npy members")
def _(d):
    return [npz_case("text member only", zip_bytes([("readme.txt", b"hello")]), "no .npy members")]


@rule("npz", "duplicate member names")
def _(d):
    b = io.BytesIO()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(b, "w") as z:
            z.writestr("w.npy", NPZ_MEMBERS[0][1])
            z.writestr("w.npy", NPZ_MEMBERS[0][1])
    return [npz_case("w.npy twice", b.getvalue(), "duplicate")]


@rule("npz", "sparse array directory")
def _(d):
    return [npz_case("K/format.npy", zip_bytes([("k/data.npy", NPZ_MEMBERS[1][1]), ("k/format.npy", npy_of(np.array(b"csr")))]),
                     "sparse array")]


@rule("npz", "member sizes that lie")
def _(d):
    good = zip_bytes(NPZ_MEMBERS)
    # central directory: +20 compressed size, +24 uncompressed size
    return [npz_case("stored size 10^9 in central directory", patch_central(good, 24, "<I", 10 ** 9), "sizes disagree"),
            npz_case("compressed size 2^32-2 (past the file)", patch_central(patch_central(good, 20, "<I", 0xFFFFFFFE), 24, "<I", 0xFFFFFFFE),
                     "larger than the file"),
            npz_case("deflated member claiming 4 GB",
                     patch_central(zip_bytes(NPZ_MEMBERS, zipfile.ZIP_DEFLATED), 24, "<I", 0xFFFFFFF0), "impossible size")]


@rule("npz", "unsupported compression or encryption")
def _(d):
    good = zip_bytes(NPZ_MEMBERS)
    enc = patch_central(patch_local(good, 6, "<H", 1), 8, "<H", 1)  # general purpose bit 0: encrypted
    return [npz_case("method 77", patch_central(patch_local(good, 8, "<H", 77), 10, "<H", 77), "compression method 77"),
            npz_case("encrypted flag", enc, "encrypted")]


@rule("npz", "damaged member data")
def _(d):
    good = bytearray(zip_bytes(NPZ_MEMBERS, zipfile.ZIP_DEFLATED))
    at = good.index(b"PK\x03\x04") + 30 + len(NPZ_MEMBERS[0][0]) + 4
    for i in range(at, at + 16):
        good[i] ^= 0x5A
    return [npz_case("deflate stream corrupted", bytes(good), "zip member")]


@rule("npz", "member that is not a valid npy")
def _(d):
    return [npz_case("member of 5 bytes", zip_bytes([("w.npy", b"\x93NUMP")]), "truncated"),
            npz_case("member with bad magic", zip_bytes([("w.npy", b"NOTNUMPY" + b"\x00" * 40)]), "bad magic"),
            npz_case("member payload short", zip_bytes([("w.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,)}", W6))]),
                     "truncated")]


# ---------------------------------------------------------------------------------------------
# MXNet symbol JSON

def sym_case(label, sym, phrase, cmds=(INSPECT, SYM_TO_KERAS)):
    data = sym if isinstance(sym, bytes) else json.dumps(sym).encode()
    return case(label, data, phrase, cmds=cmds, name="bad-symbol.json")


def weightless_case(label, sym, phrase):
    """A symbol without weights, converted with an empty parameter list."""
    return dict(sym_case(label, sym, phrase, cmds=(["convert", "{f}", "{d}/none.params", "--to", "keras", "-o", "{d}/out.h5"],)),
                aux={"none.params": list_file([], [])})


def with_node(i, **kv):
    def f(sym):
        sym["nodes"][i].update(kv)
    return f


@rule("symbol", "invalid JSON")
def _(d):
    text = json.dumps(good_symbol()).encode()
    return [sym_case("cut", text[:len(text) // 2], "not valid JSON"),
            sym_case("number beyond double", text.replace(b'"heads": [[3, 0, 0]]', b'"heads": [[3e999, 0, 0]]'), "not valid JSON")]


@rule("symbol", "JSON nested too deeply")
def _(d):
    return [sym_case("depth 100", b'{"nodes": ' + b"[" * 100 + b"]" * 100 + b"}", "deeper than")]


@rule("symbol", "duplicate JSON key")
def _(d):
    text = json.dumps(good_symbol()).encode()
    return [sym_case("heads twice", text[:-1] + b', "heads": [[3, 0, 0]]}', "duplicate JSON key")]


@rule("symbol", "missing key")
def _(d):
    return [sym_case("no heads", good_symbol(extra=lambda s: s.pop("heads")), "heads"),
            sym_case("node without op", good_symbol(extra=lambda s: s["nodes"][3].pop("op")), "op")]


@rule("symbol", "unknown key")
def _(d):
    return [sym_case("graph key 'extra'", good_symbol(extra=lambda s: s.update(extra=1)), "extra"),
            sym_case("node key 'colour'", good_symbol(extra=with_node(3, colour="red")), "colour")]


@rule("symbol", "wrong-typed value")
def _(d):
    return [sym_case("op is a number", good_symbol(extra=with_node(3, op=7)), "op"),
            sym_case("nodes is an object", good_symbol(extra=lambda s: s.update(nodes={})), "nodes"),
            sym_case("attribute value a number", good_symbol(fc_attrs={"num_hidden": 2}), "num_hidden"),
            sym_case("input entry a string", good_symbol(extra=with_node(3, inputs=["x"])), "input 0 must be")]


@rule("symbol", "dangling edge (input index out of range)")
def _(d):
    return [sym_case("input node 9", good_symbol(extra=with_node(3, inputs=[[9, 0, 0], [1, 0, 0], [2, 0, 0]])), "node 9"),
            sym_case("head node 9", good_symbol(extra=lambda s: s.update(heads=[[9, 0, 0]])), "node 9")]


@rule("symbol", "cycle (input not before its user)")
def _(d):
    def cyc(sym):
        sym["nodes"].append({"op": "relu", "name": "r", "inputs": [[5, 0, 0]]})
        sym["nodes"].append({"op": "relu", "name": "r2", "inputs": [[4, 0, 0]]})
        sym["node_row_ptr"] = [0, 1, 2, 3, 4, 5, 6]
    return [sym_case("self loop", good_symbol(extra=with_node(3, inputs=[[3, 0, 0], [1, 0, 0], [2, 0, 0]])), "does not come before"),
            sym_case("two-node cycle", good_symbol(extra=cyc), "does not come before")]


@rule("symbol", "output index beyond the node's outputs")
def _(d):
    return [sym_case("fc output 5", good_symbol(extra=lambda s: s.update(heads=[[3, 5, 0]])), "output 5")]


@rule("symbol", "arg_nodes naming an op or a missing node")
def _(d):
    return [sym_case("arg node 3 is an op", good_symbol(extra=lambda s: s.update(arg_nodes=[0, 1, 2, 3])), "not a variable"),
            sym_case("arg node 40", good_symbol(extra=lambda s: s.update(arg_nodes=[0, 1, 40])), "arg_nodes")]


@rule("symbol", "duplicate variable names")
def _(d):
    return [sym_case("two fc_weight", good_symbol(extra=with_node(2, name="fc_weight")), "fc_weight")]


@rule("symbol", "variable with inputs")
def _(d):
    return [sym_case("data with an input", good_symbol(extra=with_node(1, inputs=[[0, 0, 0]])), "has inputs")]


@rule("symbol", "control dependencies or subgraphs")
def _(d):
    return [sym_case("control_deps", good_symbol(extra=with_node(3, control_deps=[0])), "control_deps")]


@rule("symbol", "empty graph")
def _(d):
    return [sym_case("no nodes", {"nodes": [], "arg_nodes": [], "heads": []}, "no nodes")]


@rule("symbol", "a graph without outputs")
def _(d):
    return [sym_case("heads []", good_symbol(extra=lambda s: s.update(heads=[])), "no outputs", cmds=(SYM_TO_KERAS,))]


@rule("symbol", "unparsable attribute value")
def _(d):
    return [sym_case("num_hidden 'two'", good_symbol(fc_attrs={"num_hidden": "two"}), "invalid integer", cmds=(SYM_TO_KERAS,)),
            sym_case("no_bias 'maybe'", good_symbol(fc_attrs={"no_bias": "maybe"}), "invalid boolean", cmds=(SYM_TO_KERAS,)),
            sym_case("num_hidden '2.5'", good_symbol(fc_attrs={"num_hidden": "2.5"}), "invalid integer", cmds=(SYM_TO_KERAS,)),
            weightless_case("slice begin 1.5", slice_symbol("(None, None, 1.5, 0)"), "invalid integer \"1.5\"")]


def slice_symbol(begin, step=None):
    """data (1, 4, 8, 8) -> slice over the spatial axes (a Cropping2D): a graph without weights."""
    attrs = {"begin": begin, "end": "(None, None, 7, 8)"}
    if step:
        attrs["step"] = step
    return {"nodes": [{"op": "null", "name": "data", "attrs": {"__shape__": "(1, 4, 8, 8)"}, "inputs": []},
                      {"op": "slice", "name": "crop", "attrs": attrs, "inputs": [[0, 0, 0]]}],
            "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10300]}}


@rule("symbol", "operator attribute not interpreted")
def _(d):
    # MXNet's own loader rejects an unknown parameter; one that changes the result is refused
    # rather than ignored.
    return [sym_case("FullyConnected colour", good_symbol(fc_attrs={"colour": "red"}), "attribute 'colour'",
                     cmds=(SYM_TO_KERAS,)),
            weightless_case("slice step 2", slice_symbol("(None, None, 1, 0)", step="(None, None, 2, 1)"),
                            "strided or reversed slice")]


# Graph sanity: attributes checked before any shape arithmetic (exit 3, not a crash or exit 4).
def pair_case(label, attrs, wshape, phrase):
    sym, params = conv_symbol(attrs, wshape)
    return case(label, json.dumps(sym).encode(), phrase, cmds=(PAIR_TO_KERAS,), name="bad-symbol.json",
                aux={"pair.params": params})


@rule("graph", "MXNet kernel 0")
def _(d):
    return [pair_case("kernel (0, 0)", {"kernel": "(0, 0)"}, (4, 4, 3, 3), "kernel")]


@rule("graph", "MXNet stride 0")
def _(d):
    return [pair_case("conv stride (0, 0)", {"stride": "(0, 0)", "pad": "(1, 1)"}, (4, 4, 3, 3), "stride"),
            case("pooling stride 0", json.dumps({"nodes": [
                {"op": "null", "name": "data", "attrs": {"__shape__": "(1, 4, 8, 8)"}, "inputs": []},
                {"op": "Pooling", "name": "pool", "attrs": {"kernel": "(2, 2)", "stride": "(0, 0)", "pool_type": "max"},
                 "inputs": [[0, 0, 0]]}], "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]],
                "attrs": {"mxnet_version": ["int", 10300]}}).encode(), "stride", cmds=(PAIR_TO_KERAS,),
                name="bad-symbol.json", aux={"pair.params": list_file([], [])})]


@rule("graph", "MXNet num_group not dividing num_filter")
def _(d):
    return [pair_case("num_group 3 for 4 filters", {"num_group": "3"}, (4, 4, 3, 3), "num_group")]


@rule("graph", "MXNet negative or zero units/filters")
def _(d):
    sym = good_symbol(fc_attrs={"num_hidden": "-2"})
    return [pair_case("num_filter -4", {"num_filter": "-4"}, (4, 4, 3, 3), "num_filter"),
            case("num_hidden -2", json.dumps(sym).encode(), "num_hidden", cmds=(SYM_TO_KERAS,), name="bad-symbol.json")]


# ---------------------------------------------------------------------------------------------
# Keras HDF5

def h5_case(label, data, phrase, cmds=(INSPECT, TO_MXNET)):
    return case(label, data, phrase, cmds=cmds, name="bad.h5")


@rule("keras-h5", "not HDF5")
def _(d):
    return [h5_case("text named .h5", b"this is not an hdf5 file " * 10, "not an HDF5 file")]


@rule("keras-h5", "truncation")
def _(d):
    data = h5_bytes(lambda f: dense_weights(f), d)
    return [h5_case("cut at %d" % n, data[:n], "HDF5") for n in (16, 96, 800, len(data) // 2)]


@rule("keras-h5", "HDF5 without a Keras layout")
def _(d):
    return [h5_case("a lone dataset", h5_bytes(lambda f: f.create_dataset("x", data=[1.0]), d), "not a Keras weights file",
                    cmds=(TO_MXNET,))]


@rule("keras-h5", "name list attribute of the wrong type")
def _(d):
    def ints(f):
        dense_weights(f)
        f.attrs["layer_names"] = np.array([1, 2], dtype="<i4")
    def twod(f):
        dense_weights(f)
        f.attrs["layer_names"] = np.array([[b"a", b"b"], [b"c", b"d"]])
    def wn_float(f):
        dense_weights(f)["dense_1"].parent  # noqa
        f["dense_1"].attrs["weight_names"] = np.array([1.5])
    return [h5_case("layer_names int32", h5_bytes(ints, d), "expected strings"),
            h5_case("layer_names 2-D", h5_bytes(twod, d), "2-dimensional"),
            h5_case("weight_names float64 [1.5]", h5_bytes(wn_float, d), "expected strings")]


@rule("keras-h5", "scalar string attribute of the wrong type or count")
def _(d):
    def kv_int(f):
        dense_weights(f)
        f.attrs["keras_version"] = 2
    def kv_two(f):
        dense_weights(f)
        f.attrs["keras_version"] = np.array([b"2.2.4", b"2.3.0"])
    def mc_int(f):
        dense_weights(f, root="model_weights")
        f.attrs["model_config"] = 5
    return [h5_case("keras_version int", h5_bytes(kv_int, d), "expected strings"),
            h5_case("keras_version two strings", h5_bytes(kv_two, d), "expected one"),
            h5_case("model_config int", h5_bytes(mc_int, d), "expected strings")]


@rule("keras-h5", "listed layer or weight missing")
def _(d):
    def no_group(f):
        dense_weights(f)
        f.attrs["layer_names"] = np.array([b"dense_1", b"dense_9"])
    def no_ds(f):
        dense_weights(f)
        f["dense_1"].attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/gamma:0"])
    def no_wn(f):
        dense_weights(f)
        del f["dense_1"].attrs["weight_names"]
    def mw(f):
        f.create_group("model_weights").attrs["backend"] = b"tensorflow"
    return [h5_case("layer_names lists a missing group", h5_bytes(no_group, d), "no group"),
            h5_case("weight_names lists a missing dataset", h5_bytes(no_ds, d), "has no dataset"),
            h5_case("weight_names missing", h5_bytes(no_wn, d), "no weight_names"),
            h5_case("model_weights without layer_names", h5_bytes(mw, d), "no layer_names")]


@rule("keras-h5", "duplicate names")
def _(d):
    def dup_w(f):
        dense_weights(f)
        f["dense_1"].attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/kernel:0"])
    def dup_l(f):
        dense_weights(f)
        f.attrs["layer_names"] = np.array([b"dense_1", b"dense_1"])
    return [h5_case("weight listed twice", h5_bytes(dup_w, d), "duplicate weight names"),
            h5_case("layer listed twice", h5_bytes(dup_l, d), "duplicate layer name")]


@rule("keras-h5", "Keras 0.x counts that do not match")
def _(d):
    def k0(n, np_=None, typ=None):
        def build(f):
            f.attrs["nb_layers"] = n if typ is None else typ
            g = f.create_group("layer_0")
            if np_ is not None:
                g.attrs["nb_params"] = np_
            g["param_0"] = np.ones(2, dtype="<f4")
        return build
    return [h5_case("nb_layers -1", h5_bytes(k0(-1, 1), d), "nb_layers"),
            h5_case("nb_layers 1000", h5_bytes(k0(1000, 1), d), "nb_layers"),
            h5_case("nb_layers a string", h5_bytes(k0(0, 1, typ=b"one"), d), "not a single integer"),
            h5_case("nb_params missing", h5_bytes(k0(1), d), "nb_params")]


@rule("keras-h5", "dataset element type not supported")
def _(d):
    def compound(f):
        lg = dense_weights(f)
        del lg["dense_1/kernel:0"]
        lg["dense_1/kernel:0"] = np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])
    def strings(f):
        lg = dense_weights(f)
        del lg["dense_1/bias:0"]
        lg["dense_1/bias:0"] = np.array([b"ab", b"cd"])
    return [h5_case("compound kernel", h5_bytes(compound, d), "unsupported dataset element type"),
            h5_case("string bias", h5_bytes(strings, d), "unsupported dataset element type")]


@rule("keras-h5", "dataset without data in this file")
def _(d):
    def empty(f):
        lg = dense_weights(f)
        del lg["dense_1/bias:0"]
        lg["dense_1/bias:0"] = h5py.Empty("<f4")
    def external(f):
        lg = dense_weights(f)
        del lg["dense_1/bias:0"]
        lg.create_dataset("dense_1/bias:0", shape=(2,), dtype="<f4", external=[("/etc/hostname", 0, 8)])
    return [h5_case("null dataspace", h5_bytes(empty, d), "null dataspace"),
            h5_case("external raw data file", h5_bytes(external, d), "outside this file")]


@rule("keras-h5", "dataset shape larger than the file can hold")
def _(d):
    def huge(f):
        lg = dense_weights(f)
        del lg["dense_1/kernel:0"]
        lg.create_dataset("dense_1/kernel:0", shape=(1 << 20, 1 << 20), dtype="<f4", chunks=(64, 64),
                          compression="gzip")
    return [h5_case("unwritten chunked (2^20, 2^20) float32", h5_bytes(huge, d), "more than the file can hold",
                    cmds=(INSPECT,))]


@rule("keras-h5", "damaged chunk")
def _(d):
    def chunked(f):
        lg = dense_weights(f)
        del lg["dense_1/kernel:0"]
        lg.create_dataset("dense_1/kernel:0", data=np.arange(4096, dtype="<f4").reshape(64, 64), chunks=(64, 64),
                          compression="gzip")
    path = os.path.join(d, "_chunk.h5")
    with h5py.File(path, "w") as f:
        chunked(f)
        info = f["dense_1/dense_1/kernel:0"].id.get_chunk_info(0)
    data = bytearray(read_file(path))
    os.remove(path)
    for i in range(info.byte_offset + 2, info.byte_offset + 40):
        data[i] ^= 0xFF
    return [h5_case("gzip chunk overwritten", bytes(data), "cannot read dataset", cmds=(INSPECT,))]


@rule("keras-h5", "model_config that is not JSON")
def _(d):
    def build(f):
        dense_weights(f, root="model_weights")
        f.attrs["model_config"] = "{not json"
    return [h5_case("model_config '{not json'", h5_bytes(build, d), "not valid JSON", cmds=(TO_MXNET,))]


@rule("keras-h5", "groups nested too deeply")
def _(d):
    def build(f):
        f.create_group("/".join(["layers"] + ["g"] * 70))
    return [h5_case("70 levels under layers/", h5_bytes(build, d), "nested too deeply")]


@rule("keras-h5", "damaged global heap (variable-length strings)")
def _(d):
    def build(f):
        dense_weights(f, root="model_weights")
        f.attrs["model_config"] = json.dumps(keras_seq([dense_layer()]))
    data = bytearray(h5_bytes(build, d))
    at = data.index(b"GCOL")
    # the first object after the 16-byte collection header: index 0, size 0
    struct.pack_into("<HHIQ", data, at + 16, 0, 0, 0, 0)
    return [h5_case("object 0 of size 0", bytes(data), "global heap")]


# ---------------------------------------------------------------------------------------------
# .keras archives

def archive(config=None, meta=None, weights=None, drop=()):
    k3 = config if config is not None else json.dumps(keras_seq([dense_layer("dense")])).encode()
    members = [("metadata.json", meta if meta is not None else b'{"keras_version": "3.3.3"}'),
               ("config.json", k3),
               ("model.weights.h5", weights if weights is not None else b"")]
    return zip_bytes([m for m in members if m[0] not in drop])


def k3_weights(d):
    def build(f):
        g = f.create_group("layers/dense/vars")
        g["0"] = np.ones((3, 2), dtype="<f4")
        g["1"] = np.zeros(2, dtype="<f4")
    return h5_bytes(build, d)


def keras_case(label, data, phrase, cmds=(INSPECT, TO_MXNET)):
    return case(label, data, phrase, cmds=cmds, name="bad.keras")


@rule("keras-archive", "not a zip")
def _(d):
    return [keras_case("PK then junk", b"PK\x03\x04" + b"\x01" * 100, "not a zip archive")]


@rule("keras-archive", "missing member")
def _(d):
    w = k3_weights(d)
    return [keras_case("no model.weights.h5", archive(weights=w, drop=("model.weights.h5",)), "model.weights.h5"),
            keras_case("no config.json", archive(weights=w, drop=("config.json",)), "config.json")]


@rule("keras-archive", "member sizes that lie")
def _(d):
    good = archive(weights=k3_weights(d))
    return [keras_case("config.json size 10^9", patch_central(good, 24, "<I", 10 ** 9, member=1), "impossible")]


@rule("keras-archive", "damaged member")
def _(d):
    good = bytearray(archive(weights=k3_weights(d)))
    at = good.index(b"config.json") + len(b"config.json")
    good[at + 2] ^= 0xFF  # inside the stored config bytes: the CRC no longer matches
    return [keras_case("config.json CRC mismatch", bytes(good), "damaged zip member")]


@rule("keras-archive", "weights member that is not HDF5")
def _(d):
    return [keras_case("model.weights.h5 is text", archive(weights=b"not hdf5 at all" * 20), "not an HDF5 file")]


@rule("keras-archive", "config.json that is not JSON")
def _(d):
    return [keras_case("config.json '{'", archive(config=b"{", weights=k3_weights(d)), "config.json",
                       cmds=(TO_MXNET,))]


# ---------------------------------------------------------------------------------------------
# Keras model JSON (given as the architecture of a weights-only file)

def arch_case(label, cfg, phrase, weights=None, cmds=(ARCH_TO_MXNET,)):
    data = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    return dict(label=label, data=data, phrase=phrase, cmds=cmds, name="arch.json",
                aux={"weights.h5": weights or ("dense",)})


@rule("keras-json", "invalid JSON")
def _(d):
    return [arch_case("cut", json.dumps(keras_seq([dense_layer()])).encode()[:40], "not valid JSON"),
            arch_case("number beyond double", b'{"class_name": "Sequential", "config": 1e999}', "not valid JSON")]


@rule("keras-json", "missing key")
def _(d):
    return [arch_case("no config", {"class_name": "Sequential"}, "model config"),
            arch_case("layer without class_name", keras_seq([{"config": {"name": "dense_1"}}]), "model config"),
            arch_case("layer without name", keras_seq([{"class_name": "Dense", "config": {"units": 2}}]), "without a name"),
            arch_case("Dense without units", keras_seq([{"class_name": "Dense", "config": {"name": "dense_1"}}]), "model config"),
            arch_case("functional without output_layers",
                      {"class_name": "Model", "config": {"layers": [flayer("InputLayer", "in", [], batch_input_shape=[None, 3])]}},
                      "model config")]


@rule("keras-json", "wrong-typed value")
def _(d):
    return [arch_case("units a string", keras_seq([dense_layer(units="two")]), "model config"),
            arch_case("layers a string", {"class_name": "Sequential", "config": {"layers": "dense"}}, "without layers"),
            arch_case("class_name a number", {"class_name": 7, "config": {}}, "model config"),
            arch_case("config a list of numbers", {"class_name": "Sequential", "config": [1, 2]}, "model config"),
            arch_case("kernel_size a string", keras_seq([{"class_name": "Conv2D", "config": {
                "name": "dense_1", "filters": 2, "kernel_size": "3"}}], (None, 8, 8, 3)), "model config"),
            arch_case("keras_tensor without history", {"class_name": "Functional", "config": {"layers": [
                flayer("InputLayer", "in", [], batch_shape=[None, 3]),
                {"class_name": "Dense", "name": "dense_1", "config": {"name": "dense_1", "units": 2},
                 "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {}}]}]}],
                "output_layers": [["dense_1", 0, 0]]}}, "keras_history")]


@rule("keras-json", "number out of range")
def _(d):
    return [arch_case("units 1e300", keras_seq([dense_layer(units=1e300)]), "out of range")]


@rule("keras-json", "fraction where a count belongs")
def _(d):
    # A JSON reader casting 2.5 to 2 would build a smaller model than the file describes.
    return [arch_case("units 2.5", keras_seq([dense_layer(units=2.5)]),
                      "arch.json: model config: layer 'dense_1': 'units' holds 2.5, which is not a whole number"),
            arch_case("input dimension 3.5", keras_seq([dense_layer()], (None, 3.5)),
                      "'batch_input_shape' holds 3.5"),
            arch_case("kernel_size [3, 1.5]", keras_seq([{"class_name": "Conv2D", "config": {
                "name": "dense_1", "filters": 2, "kernel_size": [3, 1.5]}}], (None, 8, 8, 3)),
                "'kernel_size' holds 1.5")]


@rule("keras-json", "duplicate layer name")
def _(d):
    return [arch_case("dense_1 twice", keras_seq([dense_layer(), dense_layer()]), "duplicate layer name")]


@rule("keras-json", "dangling inbound edge")
def _(d):
    return [arch_case("input from 'ghost'", functional([flayer("InputLayer", "in", [], batch_input_shape=[None, 3]),
                                                        flayer("Dense", "dense_1", ["ghost"], units=2)], ["dense_1"]),
                      "unknown layer")]


@rule("keras-json", "cycle")
def _(d):
    return [arch_case("a <- b <- a", functional([flayer("InputLayer", "in", [], batch_input_shape=[None, 3]),
                                                 flayer("Activation", "a", ["b"], activation="relu"),
                                                 flayer("Dense", "dense_1", ["a"], units=2),
                                                 flayer("Activation", "b", ["dense_1"], activation="relu")], ["b"]),
                      "unknown layer"),
            arch_case("self loop", functional([flayer("InputLayer", "in", [], batch_input_shape=[None, 3]),
                                               flayer("Dense", "dense_1", ["dense_1"], units=2)], ["dense_1"]),
                      "cycle")]


@rule("keras-json", "output that is not a layer")
def _(d):
    return [arch_case("output 'nope'", functional([flayer("InputLayer", "in", [], batch_input_shape=[None, 3]),
                                                   flayer("Dense", "dense_1", ["in"], units=2)], ["nope"]),
                      "not a layer")]


@rule("keras-json", "a model without outputs")
def _(d):
    return [arch_case("output_layers []", functional([flayer("InputLayer", "in", [], batch_input_shape=[None, 3]),
                                                      flayer("Dense", "dense_1", ["in"], units=2)], []),
                      "no outputs")]


@rule("graph", "Keras kernel 0")
def _(d):
    return [arch_case("kernel_size (0, 0)", keras_seq([{"class_name": "Conv2D", "config": {
        "name": "dense_1", "filters": 2, "kernel_size": [0, 0]}}], (None, 8, 8, 3)), "kernel_size")]


@rule("graph", "Keras stride 0")
def _(d):
    return [arch_case("conv strides (0, 0)", keras_seq([{"class_name": "Conv2D", "config": {
        "name": "dense_1", "filters": 2, "kernel_size": [3, 3], "strides": [0, 0]}}], (None, 8, 8, 3)), "strides"),
            arch_case("pool strides 0", keras_seq([{"class_name": "MaxPooling2D", "config": {
                "name": "pool", "pool_size": [2, 2], "strides": [0, 0]}}, dense_layer()], (None, 8, 8, 3)), "strides")]


@rule("graph", "Keras groups not dividing filters or channels")
def _(d):
    conv = {"class_name": "Conv2D", "config": {"name": "dense_1", "filters": 4, "kernel_size": [1, 1], "groups": 3}}
    conv2 = {"class_name": "Conv2D", "config": {"name": "dense_1", "filters": 4, "kernel_size": [1, 1], "groups": 2}}
    return [arch_case("groups 3 for 4 filters", keras_seq([conv], (None, 8, 8, 3)), "groups"),
            arch_case("groups 2 for 3 channels", keras_seq([conv2], (None, 8, 8, 3)), "input channels",
                      weights=("conv", (1, 1, 1, 4)))]


@rule("graph", "Keras negative or zero units/filters/dims")
def _(d):
    return [arch_case("units -2", keras_seq([dense_layer(units=-2)]), "units"),
            arch_case("units 0", keras_seq([dense_layer(units=0)]), "units"),
            arch_case("filters -4", keras_seq([{"class_name": "Conv2D", "config": {
                "name": "dense_1", "filters": -4, "kernel_size": [1, 1]}}], (None, 8, 8, 3)), "filters"),
            arch_case("input dim 0", keras_seq([dense_layer()], (None, 0)), "input shape"),
            arch_case("input dim -5", keras_seq([dense_layer()], (None, -5)), "input shape")]


@rule("graph", "Keras absurd shape attributes")
def _(d):
    return [arch_case("Permute (1, 1)", keras_seq([{"class_name": "Permute", "config": {"name": "p", "dims": [1, 1]}},
                                                   dense_layer()], (None, 3, 3)), "permutation"),
            arch_case("Reshape (-1, -1)", keras_seq([{"class_name": "Reshape", "config": {"name": "r", "target_shape": [-1, -1]}},
                                                     dense_layer()], (None, 3)), "more than one -1"),
            arch_case("Dropout rate 2", keras_seq([{"class_name": "Dropout", "config": {"name": "drop", "rate": 2}},
                                                   dense_layer()]), "rate"),
            arch_case("ZeroPadding -1", keras_seq([{"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [-1, -1]}},
                                                   dense_layer()], (None, 4, 4, 3)), "padding")]


# ---------------------------------------------------------------------------------------------

def write_aux(d):
    """Good companions: a symbol and params that pair with each other, and Keras weights."""
    write_file(os.path.join(d, "good-symbol.json"), json.dumps(good_symbol()).encode())
    write_file(os.path.join(d, "good.params"), good_params())


def keras_weights(d, spec):
    kind = spec[0]
    def build(f):
        if kind == "dense":
            dense_weights(f)
        else:
            f.attrs["layer_names"] = np.array([b"dense_1"])
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            g = f.create_group("dense_1")
            g.attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/bias:0"])
            g["dense_1/kernel:0"] = np.ones(spec[1], dtype="<f4")
            g["dense_1/bias:0"] = np.zeros(spec[1][-1], dtype="<f4")
    return h5_bytes(build, d)


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_limited(args):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=60,
                          preexec_fn=None if SANITIZED else limit_memory)


class CorruptCorpus(unittest.TestCase):
    def test_sanity_valid_inputs_pass_under_the_limit(self):
        d = tmpdir("corrupt_sanity")
        write_aux(d)
        p = run_limited(["convert", d + "/good-symbol.json", d + "/good.params", "--to", "keras", "-o", d + "/out.h5"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_every_rule(self):
        root = tmpdir("corrupt_corpus")
        n_cases = 0
        n_runs = 0
        failures = []
        readers = {}
        for i, (reader, name, gen) in enumerate(RULES):
            rd = os.path.join(root, "%03d" % i)
            os.makedirs(rd)
            for j, c in enumerate(gen(rd)):
                d = os.path.join(rd, "%02d" % j)
                os.makedirs(d)
                write_aux(d)
                for aux_name, aux in c["aux"].items():
                    data = keras_weights(d, aux) if isinstance(aux, tuple) else aux
                    write_file(os.path.join(d, aux_name), data)
                path = os.path.join(d, c["name"])
                write_file(path, c["data"])
                n_cases += 1
                readers.setdefault(reader, set()).add(name)
                for cmd in c["cmds"]:
                    args = [a.format(f=path, d=d) for a in cmd]
                    p = run_limited(args)
                    n_runs += 1
                    what = "%s / %s / %s: weightbridge %s" % (reader, name, c["label"], " ".join(args[:1]))
                    out = p.stdout + p.stderr
                    lines = p.stderr.strip().splitlines()
                    problems = []
                    if p.returncode != 3:
                        problems.append("exit %d (wanted 3)" % p.returncode)
                    if "HDF5-DIAG" in out:
                        problems.append("HDF5-DIAG in output")
                    if len(lines) != 1 or not lines[0].startswith("weightbridge: "):
                        problems.append("not one error line")
                    elif c["phrase"] not in lines[0]:
                        problems.append("phrase %r missing" % c["phrase"])
                    if any(f.startswith("out") for f in os.listdir(d)):
                        problems.append("output written: %s" % sorted(f for f in os.listdir(d) if f.startswith("out")))
                    if problems:
                        failures.append("%s: %s\n    stderr: %s" % (what, "; ".join(problems), p.stderr.strip()[:300]))
        n_rules = sum(len(v) for v in readers.values())
        print("\ncorrupt corpus: %d cases (%d CLI runs) covering %d validation rules: %s" % (
            n_cases, n_runs, n_rules, ", ".join("%s %d" % (k, len(v)) for k, v in sorted(readers.items()))))
        self.assertEqual(failures, [], "\n" + "\n".join(failures))


if __name__ == "__main__":
    unittest.main()
