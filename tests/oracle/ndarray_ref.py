"""An independent reader for MXNet NDArray list files (formats-mxnet.md sections 2-3), written
for the tests only: dense V0/V1/V2/V3 records, numpy arrays out."""
import struct

import numpy as np

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
DTYPES = {0: "<f4", 1: "<f8", 2: "<f2", 3: "|u1", 4: "<i4", 5: "|i1", 6: "<i8", 7: "|b1"}


def load(path):
    """Returns (names, arrays, record_versions)."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    magic, _reserved, n = take("<QQQ")
    assert magic == 0x112, hex(magic)
    arrays, versions = [], []
    for _ in range(n):
        (m,) = take("<I")
        if m in (V2, V3):
            (stype,) = take("<i")
            assert stype == 0, "sparse not handled by the reference reader"
            (ndim,) = take("<i")
            shape = take("<%dq" % ndim)
            version = 2 if m == V2 else 3
        elif m == V1:
            (ndim,) = take("<I")
            shape = take("<%dq" % ndim)
            version = 1
        else:
            ndim = m
            shape = take("<%dI" % ndim)
            version = 0
        take("<ii")  # context
        (flag,) = take("<i")
        dt = np.dtype(DTYPES[flag])
        count = int(np.prod(shape)) if shape else 1
        arr = np.frombuffer(data, dtype=dt, count=count, offset=pos).reshape(shape)
        pos += count * dt.itemsize
        arrays.append(arr)
        versions.append(version)
    (k,) = take("<Q")
    names = []
    for _ in range(k):
        (ln,) = take("<Q")
        names.append(data[pos:pos + ln].decode("utf-8"))
        pos += ln
    assert pos == len(data), "trailing bytes"
    return names, arrays, versions


def load_dict(path):
    names, arrays, _ = load(path)
    return dict(zip(names, arrays))


def save(path, named_arrays):
    """Writes [(name, array), ...] as an NDArray list file with V2 float32 records, cpu(0)."""
    out = struct.pack("<QQQ", 0x112, 0, len(named_arrays))
    for _, a in named_arrays:
        a = np.ascontiguousarray(a, np.float32)
        out += struct.pack("<Iii", V2, 0, a.ndim) + struct.pack("<%dq" % a.ndim, *a.shape)
        out += struct.pack("<iii", 1, 0, 0) + a.tobytes()
    out += struct.pack("<Q", len(named_arrays))
    for n, _ in named_arrays:
        out += struct.pack("<Q", len(n)) + n.encode()
    with open(path, "wb") as f:
        f.write(out)
