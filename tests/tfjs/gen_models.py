#!/usr/bin/python3
"""Generates small Keras 2.2.4 models with random weights for the TensorFlow.js oracle.

    gen_models.py OUT_DIR [--only NAME,...]

For every model it writes a folder OUT_DIR/<name>/ holding
  model.h5      a Keras 2 full-model file laid out exactly as Keras 2.2.4 + h5py 2 write it
                (the file weightbridge reads);
  x.npy         a float32 input batch (integer-valued floats for Embedding inputs);
  tfjs.json     the transport to TensorFlow.js: model_config plus the weights in layer order
  tfjs.bin      with shapes and byte offsets into tfjs.bin (flat little-endian float32).
The sidecar is derived by reading model.h5 back (layer_names -> weight_names -> datasets), so
TensorFlow.js sees exactly the tensors stored in the file and in the order Keras loads them.

Shapes are non-square and asymmetric on purpose (input (7, 5, 3), kernels (3, 2), ...), so a
transposed kernel or a swapped axis fails with a shape error or wrong numbers, never by luck.
Only numpy and h5py are needed (Debian python3-numpy, python3-h5py).
"""
import json
import os
import re
import sys
import zlib

import h5py
import numpy as np

GLOROT = {"class_name": "VarianceScaling",
          "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}
ONES = {"class_name": "Ones", "config": {}}

class Spec:
    """One layer: Keras class, config without the base keys, weights as (name, array) in order."""

    def __init__(self, cls, config, weights=()):
        self.cls, self.config, self.weights = cls, config, list(weights)


class Rand:
    def __init__(self, name):
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))

    def uniform(self, shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)


# ---- layer constructors, configs as Keras 2.2.4 get_config() returns them ----

def dense(r, n_in, units, activation="linear", use_bias=True):
    w = [("kernel", r.uniform((n_in, units), -0.8, 0.8))]
    if use_bias:
        w.append(("bias", r.uniform((units,), -0.5, 0.5)))
    return Spec("Dense", {"units": units, "activation": activation, "use_bias": use_bias,
                          "kernel_initializer": GLOROT, "bias_initializer": ZEROS,
                          "kernel_regularizer": None, "bias_regularizer": None,
                          "activity_regularizer": None, "kernel_constraint": None,
                          "bias_constraint": None}, w)


def conv(r, rank, n_in, filters, kernel_size, strides=1, padding="valid", dilation=1,
         data_format="channels_last", activation="linear", use_bias=True):
    tup = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * rank
    ks = tup(kernel_size)
    scale = 1.0 / np.sqrt(np.prod(ks) * n_in)
    w = [("kernel", r.uniform(tuple(ks) + (n_in, filters), -2 * scale, 2 * scale))]
    if use_bias:
        w.append(("bias", r.uniform((filters,), -0.5, 0.5)))
    cfg = {"filters": filters, "kernel_size": ks, "strides": tup(strides), "padding": padding,
           "data_format": data_format, "dilation_rate": tup(dilation), "activation": activation,
           "use_bias": use_bias, "kernel_initializer": GLOROT, "bias_initializer": ZEROS,
           "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
           "kernel_constraint": None, "bias_constraint": None}
    return Spec("Conv%dD" % rank, cfg, w)


def batchnorm(r, n, axis=-1, scale=True, center=True):
    w = []
    if scale:
        w.append(("gamma", r.uniform((n,), 0.5, 1.5)))
    if center:
        w.append(("beta", r.uniform((n,), -0.5, 0.5)))
    w.append(("moving_mean", r.uniform((n,), -0.5, 0.5)))
    w.append(("moving_variance", r.uniform((n,), 0.3, 2.0)))
    return Spec("BatchNormalization", {
        "axis": axis, "momentum": 0.99, "epsilon": 0.001, "center": center, "scale": scale,
        "beta_initializer": ZEROS, "gamma_initializer": ONES,
        "moving_mean_initializer": ZEROS, "moving_variance_initializer": ONES,
        "beta_regularizer": None, "gamma_regularizer": None,
        "beta_constraint": None, "gamma_constraint": None}, w)


def embedding(r, input_dim, output_dim, input_length):
    return Spec("Embedding", {
        "input_dim": input_dim, "output_dim": output_dim,
        "embeddings_initializer": {"class_name": "RandomUniform",
                                   "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None,
        "embeddings_constraint": None, "mask_zero": False, "input_length": input_length},
        [("embeddings", r.uniform((input_dim, output_dim)))])


def pool(kind, rank, pool_size, strides=None, padding="valid", data_format="channels_last"):
    tup = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * rank
    return Spec("%sPooling%dD" % (kind, rank), {
        "pool_size": tup(pool_size), "padding": padding,
        "strides": tup(strides if strides is not None else pool_size), "data_format": data_format})


def global_pool(kind, rank, data_format="channels_last"):
    return Spec("Global%sPooling%dD" % (kind, rank), {"data_format": data_format})


def activation(name):
    return Spec("Activation", {"activation": name})


def leaky_relu(alpha):
    return Spec("LeakyReLU", {"alpha": alpha})


def zero_padding2d(padding, data_format="channels_last"):
    return Spec("ZeroPadding2D", {"padding": padding, "data_format": data_format})


def flatten(data_format="channels_last"):
    return Spec("Flatten", {"data_format": data_format})


def reshape(target_shape):
    return Spec("Reshape", {"target_shape": list(target_shape)})


def permute(dims):
    return Spec("Permute", {"dims": list(dims)})


def dropout(rate):
    return Spec("Dropout", {"rate": rate, "noise_shape": None, "seed": None})


def add():
    return Spec("Add", {})


def concatenate(axis=-1):
    return Spec("Concatenate", {"axis": axis})


# ---- model containers ----

class Namer:
    def __init__(self):
        self.counts = {}

    def __call__(self, cls):
        # Keras 2 auto-names: snake_case of the class (MaxPooling2D -> max_pooling2d), inputs "input".
        prefix = "input" if cls == "InputLayer" else re.sub(
            "([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", cls)).lower()
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return "%s_%d" % (prefix, self.counts[prefix])


class Sequential:
    def __init__(self, input_shape, specs):
        self.input_shape, self.specs = list(input_shape), specs

    def build(self):
        """-> (model_config, [(layer_name, [(weight_name, array)])]) in Keras layer order."""
        name = Namer()
        layers, weights = [], []
        for i, s in enumerate(self.specs):
            n = name(s.cls)
            cfg = {"name": n, "trainable": True}
            if i == 0:
                cfg.update({"batch_input_shape": [None] + self.input_shape, "dtype": "float32"})
            cfg.update(s.config)
            layers.append({"class_name": s.cls, "config": cfg})
            weights.append((n, s.weights))
        config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}
        return config, weights


class Functional:
    """Layers are added with add(spec, *inputs) -> layer name; call output() on the last one."""

    def __init__(self):
        self.name, self.layers, self.weights, self.inputs, self.outputs = Namer(), [], [], [], []

    def input(self, shape):
        n = self.name("InputLayer")
        self.layers.append({"name": n, "class_name": "InputLayer", "config": {
            "batch_input_shape": [None] + list(shape), "dtype": "float32", "sparse": False,
            "name": n}, "inbound_nodes": []})
        self.weights.append((n, []))
        self.inputs.append(n)
        return n

    def add(self, spec, *inputs):
        n = self.name(spec.cls)
        cfg = {"name": n, "trainable": True}
        cfg.update(spec.config)
        self.layers.append({"name": n, "class_name": spec.cls, "config": cfg,
                            "inbound_nodes": [[[i, 0, 0, {}] for i in inputs]]})
        self.weights.append((n, spec.weights))
        return n

    def output(self, name):
        self.outputs.append(name)
        return self

    def build(self):
        config = {"class_name": "Model", "config": {
            "name": "model_1", "layers": self.layers,
            "input_layers": [[n, 0, 0] for n in self.inputs],
            "output_layers": [[n, 0, 0] for n in self.outputs]}}
        return config, self.weights


# ---- the models ----

DENSE_ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "linear", "softplus", "softsign",
                     "elu", "selu", "hard_sigmoid"]


def models():
    """-> list of (name, model, input_shape, input_kind); input_kind 'float' or ('int', high)."""
    out = []

    for act in DENSE_ACTIVATIONS:
        r = Rand("dense_" + act)
        out.append(("dense_" + act, Sequential([7], [dense(r, 7, 5, act)]), [7], "float"))

    r = Rand("dense_mlp_nobias")
    out.append(("dense_mlp_nobias", Sequential([9], [
        dense(r, 9, 6, "relu", use_bias=False), dropout(0.4),
        dense(r, 6, 4, "tanh"), dense(r, 4, 3, "softmax", use_bias=False)]), [9], "float"))

    r = Rand("conv1d")
    out.append(("conv1d", Sequential([13, 3], [
        conv(r, 1, 3, 4, 3, strides=2, activation="relu"),
        conv(r, 1, 4, 5, 2, padding="same", dilation=2),
        conv(r, 1, 5, 2, 3, padding="same", strides=2, use_bias=False),
        flatten(), dense(r, 3 * 2, 3)]), [13, 3], "float"))

    r = Rand("conv2d_channels_last")
    out.append(("conv2d_channels_last", Sequential([7, 5, 3], [
        conv(r, 2, 3, 4, (3, 2), strides=(2, 1), activation="relu"),
        conv(r, 2, 4, 6, (2, 3), padding="same"),
        flatten(), dense(r, 3 * 4 * 6, 5, "softmax")]), [7, 5, 3], "float"))

    r = Rand("conv2d_channels_first")
    out.append(("conv2d_channels_first", Sequential([3, 7, 5], [
        conv(r, 2, 3, 4, (3, 2), strides=(2, 1), data_format="channels_first", activation="relu"),
        conv(r, 2, 4, 6, (2, 3), padding="same", data_format="channels_first"),
        flatten("channels_first"), dense(r, 6 * 3 * 4, 5, "softmax")]), [3, 7, 5], "float"))

    r = Rand("conv2d_same_strided")
    out.append(("conv2d_same_strided", Sequential([9, 8, 2], [
        conv(r, 2, 2, 3, (4, 3), strides=(2, 3), padding="same", activation="tanh"),
        conv(r, 2, 3, 4, (2, 2), strides=(1, 2), padding="same", use_bias=False),
        flatten(), dense(r, 5 * 2 * 4, 3)]), [9, 8, 2], "float"))

    r = Rand("conv2d_dilated")
    out.append(("conv2d_dilated", Sequential([10, 9, 2], [
        conv(r, 2, 2, 3, (3, 2), dilation=(2, 3), activation="elu"),
        conv(r, 2, 3, 4, (2, 3), dilation=(3, 1), padding="same", data_format="channels_last"),
        global_pool("Average", 2)]), [10, 9, 2], "float"))

    r = Rand("conv2d_dilated_channels_first")
    out.append(("conv2d_dilated_channels_first", Sequential([2, 10, 9], [
        conv(r, 2, 2, 3, (3, 2), dilation=(2, 3), data_format="channels_first", activation="selu"),
        conv(r, 2, 3, 4, (2, 3), strides=(2, 1), padding="same", data_format="channels_first"),
        flatten("channels_first")]), [2, 10, 9], "float"))

    r = Rand("conv3d_channels_last")
    out.append(("conv3d_channels_last", Sequential([5, 6, 4, 2], [
        conv(r, 3, 2, 3, (2, 3, 2), strides=(1, 2, 1), activation="relu"),
        conv(r, 3, 3, 2, (3, 2, 2), padding="same", dilation=(1, 1, 1)),
        flatten(), dense(r, 4 * 2 * 3 * 2, 3)]), [5, 6, 4, 2], "float"))

    r = Rand("conv3d_channels_first")
    out.append(("conv3d_channels_first", Sequential([2, 5, 6, 4], [
        conv(r, 3, 2, 3, (2, 3, 2), strides=(2, 1, 1), padding="same", data_format="channels_first"),
        flatten("channels_first"), dense(r, 3 * 3 * 6 * 4, 2)]), [2, 5, 6, 4], "float"))

    r = Rand("batchnorm_channels_last")
    out.append(("batchnorm_channels_last", Sequential([7, 5, 3], [
        conv(r, 2, 3, 4, (3, 2), use_bias=False), batchnorm(r, 4), activation("relu"),
        batchnorm(r, 4, scale=False), batchnorm(r, 4, center=False),
        global_pool("Average", 2), dense(r, 4, 3)]), [7, 5, 3], "float"))

    # BatchNormalization over axis 1 of a >=3-D input is wrong in tfjs 4.22 (README.md), so the
    # channels_first models keep their BatchNormalization on the last axis or leave it out.
    r = Rand("conv2d_channels_first_global_max")
    out.append(("conv2d_channels_first_global_max", Sequential([3, 7, 5], [
        conv(r, 2, 3, 4, (2, 3), data_format="channels_first", activation="tanh"),
        global_pool("Max", 2, "channels_first"), batchnorm(r, 4, axis=1)]), [3, 7, 5], "float"))

    r = Rand("batchnorm_sequence")
    out.append(("batchnorm_sequence", Sequential([4, 6], [
        batchnorm(r, 6, axis=2, scale=False), permute((2, 1)),
        batchnorm(r, 4, center=False, scale=False)]), [4, 6], "float"))

    r = Rand("batchnorm_dense")
    out.append(("batchnorm_dense", Sequential([7], [
        dense(r, 7, 6), batchnorm(r, 6, center=False), activation("softsign"),
        batchnorm(r, 6, scale=False), dense(r, 6, 4)]), [7], "float"))

    r = Rand("embedding")
    out.append(("embedding", Sequential([6], [
        embedding(r, 11, 4, 6), flatten(), dense(r, 24, 3, "sigmoid")]), [6], ("int", 11)))

    r = Rand("activation_layers")
    out.append(("activation_layers", Sequential([4, 6], [
        activation("tanh"), leaky_relu(0.2), dense(r, 6, 5), leaky_relu(0.3),
        activation("elu"), activation("softplus"), activation("softmax")]), [4, 6], "float"))

    out.append(("pooling1d", Sequential([13, 3], [
        pool("Max", 1, 3, strides=2), pool("Average", 1, 2, strides=1, padding="same"),
        pool("Max", 1, 2, padding="same"), pool("Average", 1, 2)]), [13, 3], "float"))

    out.append(("pooling2d_channels_last", Sequential([9, 7, 3], [
        pool("Max", 2, (3, 2), strides=(2, 1), padding="same"),
        pool("Average", 2, (2, 3), strides=(1, 2), padding="same"),
        pool("Average", 2, (2, 2)), pool("Max", 2, (1, 2))]), [9, 7, 3], "float"))

    out.append(("pooling2d_channels_first", Sequential([3, 9, 7], [
        pool("Max", 2, (3, 2), strides=(2, 1), padding="same", data_format="channels_first"),
        pool("Average", 2, (2, 3), strides=(1, 2), padding="same", data_format="channels_first"),
        pool("Average", 2, (3, 1), data_format="channels_first"),
        flatten("channels_first")]), [3, 9, 7], "float"))

    out.append(("pooling3d", Sequential([5, 4, 6, 2], [
        pool("Max", 3, (2, 1, 3), strides=(2, 1, 2), padding="same"),
        pool("Average", 3, (2, 2, 1), strides=(1, 2, 1), padding="same"),
        pool("Average", 3, (2, 1, 2))]), [5, 4, 6, 2], "float"))

    out.append(("pooling3d_channels_first", Sequential([2, 5, 4, 6], [
        pool("Average", 3, (2, 1, 3), strides=(2, 1, 2), padding="same", data_format="channels_first"),
        pool("Max", 3, (2, 2, 1), strides=(1, 2, 1), data_format="channels_first"),
        flatten("channels_first")]), [2, 5, 4, 6], "float"))

    g = Functional()
    x = g.input([13, 3])
    a = g.add(global_pool("Max", 1), x)
    b = g.add(global_pool("Average", 1), x)
    g.output(g.add(concatenate(), a, b))
    out.append(("global_pooling1d", g, [13, 3], "float"))

    g = Functional()
    x = g.input([7, 5, 3])
    a = g.add(global_pool("Max", 2), x)
    b = g.add(global_pool("Average", 2), x)
    c = g.add(global_pool("Average", 2, "channels_first"), x)
    g.output(g.add(concatenate(), a, b, c))
    out.append(("global_pooling2d", g, [7, 5, 3], "float"))

    r = Rand("zero_padding2d")
    out.append(("zero_padding2d", Sequential([5, 4, 2], [
        zero_padding2d([[1, 2], [0, 3]]), conv(r, 2, 2, 3, (3, 2), strides=(2, 2)),
        zero_padding2d([[2, 2], [1, 1]]), flatten(), dense(r, 7 * 5 * 3, 2)]), [5, 4, 2], "float"))

    r = Rand("zero_padding2d_channels_first")
    out.append(("zero_padding2d_channels_first", Sequential([2, 5, 4], [
        zero_padding2d([[1, 2], [0, 3]], "channels_first"),
        conv(r, 2, 2, 3, (3, 2), data_format="channels_first"),
        zero_padding2d([[0, 1], [2, 0]], "channels_first"), flatten("channels_first")]),
        [2, 5, 4], "float"))

    r = Rand("reshape_permute")
    out.append(("reshape_permute", Sequential([6, 4], [
        reshape((3, 8)), permute((2, 1)), dense(r, 3, 5), reshape((2, 4, 5)),
        permute((3, 1, 2)), flatten(), dense(r, 40, 3)]), [6, 4], "float"))

    r = Rand("functional_add")
    g = Functional()
    x = g.input([7, 5, 3])
    a = g.add(conv(r, 2, 3, 4, (3, 2), activation="relu"), x)
    b = g.add(conv(r, 2, 3, 4, (3, 2), use_bias=False), x)
    s = g.add(add(), a, b)
    f = g.add(flatten(), s)
    g.output(g.add(dense(r, 5 * 4 * 4, 3), f))
    out.append(("functional_add", g, [7, 5, 3], "float"))

    r = Rand("functional_concat")
    g = Functional()
    x = g.input([7])
    a = g.add(dense(r, 7, 4, "relu"), x)
    b = g.add(dense(r, 7, 3, "tanh"), x)
    c = g.add(concatenate(), a, b)
    d = g.add(dropout(0.3), c)
    g.output(g.add(dense(r, 7, 2), d))
    out.append(("functional_concat", g, [7], "float"))

    r = Rand("functional_concat_channels_first")
    g = Functional()
    x = g.input([3, 7, 5])
    a = g.add(conv(r, 2, 3, 2, (3, 2), data_format="channels_first"), x)
    b = g.add(conv(r, 2, 3, 4, (3, 2), data_format="channels_first", activation="sigmoid"), x)
    c = g.add(concatenate(axis=1), a, b)
    g.output(g.add(flatten("channels_first"), c))
    out.append(("functional_concat_channels_first", g, [3, 7, 5], "float"))

    return out


# ---- writing ----

def write_h5(path, model_config, layer_weights):
    """A Keras 2.2.4 full-model file as written with h5py 2 (fixed-length name lists)."""
    names = lambda xs: np.array([x.encode() for x in xs], dtype="S")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = names([n for n, _ in layer_weights])
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.2.4"
        for layer, weights in layer_weights:
            g = mw.create_group(layer)
            wnames = ["%s/%s:0" % (layer, w) for w, _ in weights]
            g.attrs["weight_names"] = names(wnames) if wnames else np.zeros((0,), np.float64)
            for wn, (_, arr) in zip(wnames, weights):
                g.create_dataset(wn, data=arr)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def write_sidecar(h5_path, json_path, bin_path):
    """Reads model.h5 the way a Keras loader does and writes the TensorFlow.js transport."""
    entries, blobs, offset = [], [], 0
    with h5py.File(h5_path, "r") as f:
        config = json.loads(text(f.attrs["model_config"]))
        mw = f["model_weights"]
        for layer in [text(n) for n in mw.attrs["layer_names"]]:
            g = mw[layer]
            wn = g.attrs["weight_names"]
            for name in ([] if wn.dtype.kind == "f" else [text(n) for n in wn]):
                arr = np.ascontiguousarray(g[name][()], dtype="<f4")
                entries.append({"layer": layer, "name": name, "shape": list(arr.shape),
                                "offset": offset})
                blobs.append(arr.tobytes())
                offset += arr.nbytes
    with open(json_path, "w") as f:
        json.dump({"model_config": config, "weights": entries, "weights_file": os.path.basename(bin_path)}, f)
    with open(bin_path, "wb") as f:
        f.write(b"".join(blobs))


def make_input(name, shape, kind, batch=2):
    rng = np.random.default_rng(zlib.crc32(("input:" + name).encode()))
    if kind == "float":
        return rng.normal(0.0, 1.0, size=[batch] + shape).astype(np.float32)
    return rng.integers(0, kind[1], size=[batch] + shape).astype(np.float32)


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.exit("usage: gen_models.py OUT_DIR [--only NAME,...]")
    out_dir = argv[1]
    only = set(argv[3].split(",")) if len(argv) > 3 and argv[2] == "--only" else None
    for name, model, input_shape, kind in models():
        if only and name not in only:
            continue
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        config, weights = model.build()
        write_h5(os.path.join(d, "model.h5"), config, weights)
        write_sidecar(os.path.join(d, "model.h5"), os.path.join(d, "tfjs.json"), os.path.join(d, "tfjs.bin"))
        np.save(os.path.join(d, "x.npy"), make_input(name, input_shape, kind))
        print(name)


if __name__ == "__main__":
    main(sys.argv)
