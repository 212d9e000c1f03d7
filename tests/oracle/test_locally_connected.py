"""LocallyConnected1D / LocallyConnected2D (Keras 1, Keras 2, tf.keras implementations 1, 2, 3).

Each model is a full-model .h5 written here with h5py, with non-square, non-symmetric shapes
(kernel 3x2 over a 5x7 input, strides (1, 2), 3 channels -> 4 filters ...) so that a transposed
axis or a wrong feature order cannot pass. The expected outputs come from numpy written here from
the Keras definitions, each implementation by its own route:
  1  keras.backend.local_conv: per output position, the input slice flattened in the tensor's own
     axis order, times kernel[position];
  2  locally_connected_utils.local_conv_matmul: the dense kernel masked by conv_kernel_mask,
     reshaped to 2-D, one matmul of the flattened input;
  3  local_conv_sparse_matmul: the values placed at the sorted conv_kernel_idxs of a
     (out_size, in_size) matrix;
and the bias added as keras.backend.bias_add does (channels_first: the (out..., F) bias reshaped,
not transposed, to (F, out...)).
"""
import itertools
import json
import os
import unittest

import h5py
import numpy as np

from wbtest import inspect_json, keras_weight_list, run, tmpdir, write_sequential

RNG = np.random.default_rng(20261204)


def rnd(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def write_model(path, input_shape, layers, version="2.4.0"):
    """layers: [(class, config, [(role, array)])] -> Sequential tf.keras full-model file."""
    write_sequential(path, input_shape, layers, version, nested=True, name_format="layer%d")


def write_keras1(path, input_shape, cls, cfg, ws, backend="theano"):
    """A Keras 1.2.2 full save: version and backend on the root only, weights named <layer>_W, _b."""
    cfg = dict(cfg, name="lc", batch_input_shape=[None] + list(input_shape))
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["backend"] = backend.encode()
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                              "config": [{"class_name": cls, "config": cfg}]}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lc"]
        lg = g.create_group("lc")
        lg.attrs["weight_names"] = [("lc_" + n).encode() for n, _ in ws]
        for n, a in ws:
            lg.create_dataset("lc_" + n, data=a)


def weights(path):
    """[(layer, weight name, array)] of a Keras .h5 in file order."""
    return keras_weight_list(path)


def run_model(d, path, x):
    np.save(d + "/x.npy", x)
    run("run", path, "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
    return np.load(d + "/y.npy")


# ---- numpy references (float64), written from the Keras source ----

def geometry(x_shape, k, cf):
    sp = x_shape[2:] if cf else x_shape[1:-1]
    return list(sp), x_shape[1] if cf else x_shape[-1]


def out_dims(sp, k, s):
    return [(i - kk) // ss + 1 for i, kk, ss in zip(sp, k, s)]


def add_bias(y, b, cf):
    """keras.backend.bias_add with a (out..., F) bias: channels_first reshapes it to (F, out...)."""
    if b is None:
        return y
    b = b.astype(np.float64)
    return y + (b.reshape((b.shape[-1],) + b.shape[:-1]) if cf else b)[None]


def ref_impl1(x, kernel, b, k, s, cf):
    """keras.backend.local_conv."""
    x = x.astype(np.float64)
    sp, _ = geometry(x.shape, k, cf)
    out = out_dims(sp, k, s)
    xs = []
    for pos in itertools.product(*[range(o) for o in out]):
        sl = [slice(None)] + ([slice(None)] if cf else [])
        sl += [slice(p * ss, p * ss + kk) for p, ss, kk in zip(pos, s, k)]
        sl += [] if cf else [slice(None)]
        xs.append(x[tuple(sl)].reshape(x.shape[0], -1))
    y = np.stack([xp @ kernel[i].astype(np.float64) for i, xp in enumerate(xs)])  # (P, N, F)
    y = y.reshape(out + [x.shape[0], kernel.shape[-1]])
    r = len(out)
    perm = [r, r + 1] + list(range(r)) if cf else [r] + list(range(r)) + [r + 1]
    return add_bias(y.transpose(perm), b, cf)


def conv_kernel_mask(sp, k, s):
    """conv_utils.conv_kernel_mask (valid padding): (in..., out...) booleans."""
    out = out_dims(sp, k, s)
    mask = np.zeros(tuple(sp) + tuple(out), bool)
    for opos in itertools.product(*[range(o) for o in out]):
        for ipos in itertools.product(*[range(o * ss, o * ss + kk) for o, ss, kk in zip(opos, s, k)]):
            mask[ipos + opos] = True
    return mask


def ref_impl2(x, kernel, b, k, s, cf, f):
    """locally_connected_utils.local_conv_matmul with get_locallyconnected_mask."""
    sp, _ = geometry(x.shape, k, cf)
    out = out_dims(sp, k, s)
    mask = conv_kernel_mask(sp, k, s)
    nd = len(sp)
    mask = np.expand_dims(np.expand_dims(mask, 0), -nd - 1) if cf else np.expand_dims(np.expand_dims(mask, nd), -1)
    kk = (kernel.astype(np.float64) * mask)
    half = kk.ndim // 2
    k2 = kk.reshape(int(np.prod(kk.shape[:half])), -1)
    y = x.reshape(x.shape[0], -1).astype(np.float64) @ k2
    y = y.reshape([x.shape[0]] + ([f] + out if cf else out + [f]))
    return add_bias(y, b, cf)


def conv_kernel_idxs(sp, k, s, c, f, cf):
    """conv_utils.conv_kernel_idxs (valid padding), sorted as the layer sorts them."""
    out = out_dims(sp, k, s)
    cat = (lambda pos, ch: (ch,) + pos) if cf else (lambda pos, ch: pos + (ch,))
    idxs = []
    for opos in itertools.product(*[range(o) for o in out]):
        for ipos in itertools.product(*[range(o * ss, o * ss + kk) for o, ss, kk in zip(opos, s, k)]):
            for fi in range(c):
                for fo in range(f):
                    idxs.append((np.ravel_multi_index(cat(opos, fo), cat(tuple(out), f)),
                                 np.ravel_multi_index(cat(ipos, fi), cat(tuple(sp), c))))
    return sorted(idxs)


def ref_impl3(x, kernel, b, k, s, cf, f):
    """locally_connected_utils.local_conv_sparse_matmul."""
    sp, c = geometry(x.shape, k, cf)
    out = out_dims(sp, k, s)
    m = np.zeros((int(np.prod(out)) * f, int(np.prod(sp)) * c))
    for v, (o, i) in zip(kernel.astype(np.float64), conv_kernel_idxs(sp, k, s, c, f, cf)):
        m[o, i] = v
    y = (m @ x.reshape(x.shape[0], -1).astype(np.float64).T).T
    y = y.reshape([x.shape[0]] + ([f] + out if cf else out + [f]))
    return add_bias(y, b, cf)


def kernel_shape(impl, sp, c, k, s, f, cf):
    out = out_dims(sp, k, s)
    if impl == 1:
        return (int(np.prod(out)), int(np.prod(k)) * c, f)
    if impl == 2:
        return tuple([c] + sp + [f] + out) if cf else tuple(sp + [c] + out + [f])
    return (int(np.prod(out)) * int(np.prod(k)) * c * f,)


def lc_config(name, f, k, s, cf, impl, activation="linear", use_bias=True):
    return {"name": name, "filters": f, "kernel_size": list(k), "strides": list(s), "padding": "valid",
            "data_format": "channels_first" if cf else "channels_last", "activation": activation,
            "use_bias": use_bias, "implementation": impl}


class LocallyConnected(unittest.TestCase):
    def check(self, tag, input_shape, k, s, f, cf, impl, activation="linear", use_bias=True):
        r = len(k)
        cls = "LocallyConnected%dD" % r
        d = tmpdir("lc_" + tag)
        sp = list(input_shape[1:] if cf else input_shape[:-1])
        c = input_shape[0] if cf else input_shape[-1]
        kern = rnd(*kernel_shape(impl, sp, c, k, s, f, cf))
        bias = rnd(*(out_dims(sp, k, s) + [f])) if use_bias else None
        ws = [("kernel", kern)] + ([("bias", bias)] if use_bias else [])
        path = d + "/m.h5"
        write_model(path, input_shape, [(cls, lc_config("lc", f, k, s, cf, impl, activation, use_bias), ws)])
        x = rnd(3, *input_shape)
        if impl == 1:
            want = ref_impl1(x, kern, bias, k, s, cf)
        elif impl == 2:
            want = ref_impl2(x, kern, bias, k, s, cf, f)
        else:
            want = ref_impl3(x, kern, bias, k, s, cf, f)
        if activation == "relu":
            want = np.maximum(want, 0)
        y = run_model(d, path, x)
        self.assertEqual(y.shape, want.shape)
        np.testing.assert_allclose(y, want, rtol=0, atol=1e-5)
        # Keras -> Keras: the same class, config and weights byte for byte; --verify re-runs both.
        run("convert", path, "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
        a, b = weights(path), weights(d + "/back.h5")
        self.assertEqual([(l, n, w.shape, w.dtype, w.tobytes()) for l, n, w in a],
                         [(l, n, w.shape, w.dtype, w.tobytes()) for l, n, w in b])
        with h5py.File(d + "/back.h5", "r") as fh:
            layers = json.loads(fh.attrs["model_config"])["config"]["layers"]
        lc = [l for l in layers if l["class_name"] == cls]
        self.assertEqual(len(lc), 1)
        for key, val in (("implementation", impl), ("kernel_size", list(k)), ("strides", list(s)), ("filters", f),
                         ("data_format", "channels_first" if cf else "channels_last"), ("use_bias", use_bias),
                         ("activation", activation)):
            self.assertEqual(lc[0]["config"][key], val, key)
        np.testing.assert_allclose(run_model(d, d + "/back.h5", x), want, rtol=0, atol=1e-5)
        # MXNet: refused, naming the layer (exit 3, README contract), nothing written.
        p = run("convert", path, "--to", "mxnet", "-o", d + "/mx", check=3)
        self.assertIn("'lc'", p.stderr)
        self.assertIn(cls + " has no MXNet equivalent", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))
        # inspect lists the layer and its tensors as stored.
        info = inspect_json(path)["files"][0]
        self.assertIn("lc", json.dumps(info["layers"]))
        shapes = {t["name"]: t["shape"] for t in info["tensors"]}
        self.assertIn(list(kern.shape), list(shapes.values()))
        return d

    # implementation 1 (Keras 1, Keras 2, tf.keras default)
    def test_2d_channels_last_impl1(self):
        self.check("2d_cl_1", (5, 7, 3), (3, 2), (1, 2), 4, False, 1)

    def test_2d_channels_first_impl1(self):
        self.check("2d_cf_1", (3, 6, 5), (2, 3), (2, 1), 4, True, 1, activation="relu")

    def test_1d_channels_last_impl1(self):
        self.check("1d_cl_1", (9, 3), (3,), (2,), 5, False, 1)

    def test_1d_channels_first_impl1_no_bias(self):
        self.check("1d_cf_1", (3, 8), (2,), (3,), 4, True, 1, use_bias=False)

    # implementation 2 (dense masked kernel)
    def test_2d_channels_last_impl2(self):
        self.check("2d_cl_2", (5, 6, 2), (3, 2), (1, 2), 3, False, 2)

    def test_2d_channels_first_impl2(self):
        self.check("2d_cf_2", (2, 5, 6), (2, 3), (2, 1), 3, True, 2)

    def test_1d_channels_first_impl2(self):
        self.check("1d_cf_2", (3, 7), (3,), (2,), 2, True, 2)

    # implementation 3 (sparse values in sorted index order)
    def test_2d_channels_last_impl3(self):
        self.check("2d_cl_3", (5, 6, 2), (3, 2), (1, 2), 3, False, 3)

    def test_2d_channels_first_impl3(self):
        self.check("2d_cf_3", (2, 5, 6), (2, 3), (2, 1), 3, True, 3)

    def test_1d_channels_last_impl3(self):
        self.check("1d_cl_3", (7, 3), (3,), (2,), 2, False, 3)

    def test_channels_first_bias_is_reshaped_not_transposed(self):
        # Guard on the reference itself: with channels_first, Keras adds the (out..., F) buffer as
        # (F, out...). A transposing implementation differs from it.
        b = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
        y = add_bias(np.zeros((1, 4, 2, 3)), b, True)
        self.assertEqual(y[0, 0, 0, 1], 1.0)  # flat index 1, not b[0, 1, 0] = 4
        self.assertNotEqual(y[0, 0, 0, 1], b[0, 1, 0])

    def test_keras1_theano_th_and_1d(self):
        d = tmpdir("lc_keras1")
        # LocallyConnected2D, dim_ordering th, W (P, kh*kw*C, F) with the (C, kh, kw) feature order.
        k, s, f, shape = (2, 3), (1, 2), 3, (2, 5, 7)
        kern, bias = rnd(4 * 3, 6 * 2, f), rnd(4, 3, f)
        cfg = {"nb_filter": f, "nb_row": 2, "nb_col": 3, "subsample": [1, 2], "border_mode": "valid",
               "dim_ordering": "th", "activation": "linear", "bias": True, "init": "glorot_uniform"}
        write_keras1(d + "/lc2.h5", shape, "LocallyConnected2D", cfg, [("W", kern), ("b", bias)])
        x = rnd(2, *shape)
        np.testing.assert_allclose(run_model(d, d + "/lc2.h5", x), ref_impl1(x, kern, bias, k, s, True),
                                   rtol=0, atol=1e-5)
        run("convert", d + "/lc2.h5", "--to", "keras", "-o", d + "/back2.h5", "--verify", check=0)
        self.assertEqual([w.tobytes() for _, _, w in weights(d + "/lc2.h5")],
                         [w.tobytes() for _, _, w in weights(d + "/back2.h5")])
        # LocallyConnected1D: (steps, input_dim), W (out_len, filter_length*in, F), b (out_len, F).
        kern, bias = rnd(3, 3 * 4, 2), rnd(3, 2)
        cfg = {"nb_filter": 2, "filter_length": 3, "subsample_length": 2, "border_mode": "valid",
               "activation": "linear", "bias": True, "input_dim": 4, "input_length": 8}
        write_keras1(d + "/lc1.h5", (8, 4), "LocallyConnected1D", cfg, [("W", kern), ("b", bias)], backend="tensorflow")
        x = rnd(2, 8, 4)
        np.testing.assert_allclose(run_model(d, d + "/lc1.h5", x), ref_impl1(x, kern, bias, (3,), (2,), False),
                                   rtol=0, atol=1e-5)

    def test_in_a_model_with_flatten_and_dense(self):
        d = tmpdir("lc_model")
        k, s = (3, 2), (2, 1)
        kern, bias = rnd(2 * 4, 6 * 3, 4), rnd(2, 4, 4)
        dk, db = rnd(2 * 4 * 4, 3), rnd(3)
        write_model(d + "/m.h5", (6, 5, 3), [
            ("LocallyConnected2D", lc_config("lc", 4, k, s, False, 1, "tanh"), [("kernel", kern), ("bias", bias)]),
            ("Flatten", {"name": "flat", "data_format": "channels_last"}, []),
            ("Dense", {"name": "dense", "units": 3, "activation": "linear", "use_bias": True},
             [("kernel", dk), ("bias", db)])])
        x = rnd(2, 6, 5, 3)
        want = np.tanh(ref_impl1(x, kern, bias, k, s, False)).reshape(2, -1) @ dk.astype(np.float64) + db
        np.testing.assert_allclose(run_model(d, d + "/m.h5", x), want, rtol=0, atol=1e-5)
        run("convert", d + "/m.h5", "--to", "keras", "-o", d + "/back.h5", "--verify", check=0)
        run("verify", d + "/m.h5", "--against", d + "/back.h5", check=0)

    def test_refusals(self):
        d = tmpdir("lc_refuse")
        # padding 'same' exists for implementations 2 and 3; not supported here.
        cfg = dict(lc_config("lc", 2, (3,), (1,), False, 2), padding="same")
        write_model(d + "/same.h5", (5, 2), [("LocallyConnected1D", cfg, [("kernel", rnd(5, 2, 5, 2)), ("bias", rnd(5, 2))])])
        p = run("convert", d + "/same.h5", "--to", "keras", "-o", d + "/o.h5", check=3)
        self.assertIn("padding 'same' (implementation 2) is not supported", p.stderr)
        self.assertIn("'lc'", p.stderr)
        # an implementation Keras does not define
        cfg = lc_config("lc", 2, (3,), (1,), False, 4)
        write_model(d + "/impl4.h5", (5, 2), [("LocallyConnected1D", cfg, [("kernel", rnd(3, 6, 2)), ("bias", rnd(3, 2))])])
        p = run("convert", d + "/impl4.h5", "--to", "keras", "-o", d + "/o.h5", check=3)
        self.assertIn("implementation 4 is not supported", p.stderr)
        # a kernel that does not fit the config and the input: mapping error (exit 4)
        cfg = lc_config("lc", 2, (3,), (1,), False, 1)
        write_model(d + "/bad.h5", (5, 2), [("LocallyConnected1D", cfg, [("kernel", rnd(3, 2, 6)), ("bias", rnd(3, 2))])])
        p = run("convert", d + "/bad.h5", "--to", "keras", "-o", d + "/o.h5", check=4)
        self.assertIn("kernel (3, 2, 6) does not match the config (expected (3, 6, 2))", p.stderr)


if __name__ == "__main__":
    unittest.main()
