"""Shared helpers for the black-box tests: run the weightbridge binary, locate fixtures."""
import json
import os
import shutil
import subprocess
import unittest

BIN = os.environ.get("WB_BIN", "weightbridge")
FIXTURES = os.environ.get("WB_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures/real"))
TMP = os.environ.get("WB_TMP", "/tmp/wb-tests")
IN_CI = os.environ.get("CI") == "true"


def fixture(rel):
    """Path of a real fixture; fails under CI when missing, skips elsewhere."""
    p = os.path.join(FIXTURES, rel)
    if not os.path.exists(p):
        if IN_CI:
            raise AssertionError("missing fixture under CI: " + p)
        raise unittest.SkipTest("fixture not present: " + p)
    return p


def tmpdir(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run(*args, check=None):
    """Runs weightbridge; returns CompletedProcess. check=N asserts the exit code."""
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=600)
    if check is not None and p.returncode != check:
        raise AssertionError("weightbridge %s exited %d (wanted %d)\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(map(str, args)), p.returncode, check, p.stdout, p.stderr))
    return p


def inspect_json(*paths):
    p = run("inspect", "--json", *paths, check=0)
    return json.loads(p.stdout)


def write_sequential(path, input_shape, layers, version="2.2.4", backend="tensorflow", nested=False, name_format="l%d"):
    """A Sequential full-model .h5 as Keras 2 writes it. layers: [(class, config, [(role, array)])];
    weights are named <layer>/<role>:0. version None leaves keras_version and backend out (as Keras 1
    and some converters do); nested: the config as {"name", "layers"} (Keras >= 2.2.3), else the
    layer list (Keras 2.0-2.2.2)."""
    import h5py
    import numpy as np
    cfg = []
    for i, (cls, c, _) in enumerate(layers):
        c = dict(c, name=c.get("name", name_format % i))
        if i == 0:
            c["batch_input_shape"] = [None] + list(input_shape)
        cfg.append({"class_name": cls, "config": c})
    model = {"class_name": "Sequential", "config": {"name": "seq", "layers": cfg} if nested else cfg}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(model).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [l["config"]["name"].encode() for l in cfg]
        for h in (f, g):
            if version is not None:
                h.attrs["keras_version"] = version.encode()
                h.attrs["backend"] = backend.encode()
        for l, (_, _, ws) in zip(cfg, layers):
            name = l["config"]["name"]
            lg = g.create_group(name)
            names = ["%s/%s:0" % (name, role) for role, _ in ws]
            lg.attrs["weight_names"] = [n.encode() for n in names] if ws else np.zeros((0,), np.float64)
            for n, (_, a) in zip(names, ws):
                lg.create_dataset(n, data=a)


def keras_weight_list(path):
    """[(layer, weight name, array)] of a Keras .h5 in file order, following layer_names and
    weight_names (of model_weights in a full-model file, else of the root)."""
    import h5py
    import numpy as np
    out = []
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
        for ln in g.attrs["layer_names"]:
            ln = ln.decode() if isinstance(ln, bytes) else ln
            for n in g[ln].attrs["weight_names"]:
                n = n.decode() if isinstance(n, bytes) else n
                out.append((ln, n, np.array(g[ln][n])))
    return out


def write_inputs_to_layer(path, inputs, cls, cfg, version="2.2.4"):
    """A functional Keras .h5 whose inputs [(name, shape without batch)] all feed one weightless
    layer of class `cls` (config `cfg`, named by cfg["name"]), its only output."""
    import h5py
    import numpy as np
    names = [n for n, _ in inputs]
    layers = [{"name": n, "class_name": "InputLayer", "config": {"name": n, "batch_input_shape": [None] + list(shape),
                                                                  "dtype": "float32"}, "inbound_nodes": []} for n, shape in inputs]
    layers.append({"name": cfg["name"], "class_name": cls, "config": cfg, "inbound_nodes": [[[n, 0, 0, {}] for n in names]]})
    mc = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [[n, 0, 0] for n in names],
                                             "output_layers": [[cfg["name"], 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(mc).encode()
        f.attrs["keras_version"] = version.encode()
        f.attrs["backend"] = b"tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in names + [cfg["name"]]]
        for n in names + [cfg["name"]]:
            g.create_group(n).attrs["weight_names"] = np.zeros((0,), np.float64)
    return names


def write_functional(path, inputs, layers, outputs, version="2.2.4"):
    """A functional Keras 2 .h5: inputs [(name, shape without batch)]; layers [(class, name, config,
    [inbound layer names], [(role, array)])] in order; outputs [layer names]. Weights are named
    <layer>/<role>:0."""
    import h5py
    import numpy as np
    cfg = [{"name": n, "class_name": "InputLayer", "config": {"name": n, "batch_input_shape": [None] + list(shape),
                                                             "dtype": "float32"}, "inbound_nodes": []} for n, shape in inputs]
    cfg += [{"name": name, "class_name": cls, "config": dict(c, name=name), "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]]}
            for cls, name, c, inbound, _ in layers]
    mc = {"class_name": "Model", "config": {"name": "m", "layers": cfg, "input_layers": [[n, 0, 0] for n, _ in inputs],
                                             "output_layers": [[o, 0, 0] for o in outputs]}}
    weights = {n: [] for n, _ in inputs}
    weights.update({name: ws for _, name, _, _, ws in layers})
    write_full_model(path, mc, weights, version)


def write_full_model(path, model_config, weights, version, weights_group_version=False):
    """A full-model .h5: model_config, keras_version and backend at the root (and on model_weights
    with weights_group_version), and weights {layer: [(role, array)]} named <layer>/<role>:0."""
    import h5py
    import numpy as np
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(model_config).encode()
        g = f.create_group("model_weights")
        for h in (f, g) if weights_group_version else (f,):
            h.attrs["keras_version"] = version.encode()
            h.attrs["backend"] = b"tensorflow"
        g.attrs["layer_names"] = [n.encode() for n in weights]
        for n, ws in weights.items():
            lg = g.create_group(n)
            names = ["%s/%s:0" % (n, role) for role, _ in ws]
            lg.attrs["weight_names"] = [x.encode() for x in names] if ws else np.zeros((0,), np.float64)
            for x, (_, a) in zip(names, ws):
                lg.create_dataset(x, data=a)


def write_keras3_functional(path, inputs, layers, outputs):
    """A Keras 3 functional config (calls as {"args", "kwargs"} with __keras_tensor__ entries) in a
    legacy .h5. layers: [(class, name, config, args, kwargs, [(role, array)])]; a tensor is
    written ("T", layer)."""
    def conv(o):
        if isinstance(o, tuple) and o and o[0] == "T":
            return {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                                 "keras_history": [o[1], 0, 0]}}
        if isinstance(o, list):
            return [conv(v) for v in o]
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        return o
    cfg = [{"module": "keras.layers", "class_name": "InputLayer", "name": n, "inbound_nodes": [],
            "config": {"name": n, "batch_shape": [None] + list(shape), "dtype": "float32"}} for n, shape in inputs]
    cfg += [{"module": "keras.layers", "class_name": cls, "name": name, "config": dict(c, name=name),
             "inbound_nodes": [{"args": conv(args), "kwargs": conv(kwargs)}]} for cls, name, c, args, kwargs, _ in layers]
    model = {"class_name": "Functional", "config": {"name": "m", "layers": cfg, "input_layers": [[n, 0, 0] for n, _ in inputs],
                                                   "output_layers": [[o, 0, 0] for o in outputs]}}
    weights = dict((n, []) for n, _ in inputs)
    weights.update((l[1], l[5]) for l in layers)
    write_full_model(path, model, weights, "3.3.3", weights_group_version=True)
