"""Bad inputs to the newest import paths (fused RNN with num_layers > 1 and Gluon per-layer names,
transpose before slice_axis/softmax, LocallyConnected with huge input dims): each must exit with
the contract's code, one error line naming the file, the place and the problem, and write
nothing. Regressions of findings: a parameter vector whose length fits another input width was
read as that width; Gluon-name errors did not name the file; a state_size near 2^62 overflowed;
a transpose with more axes than its input read past the shape; LocallyConnected kernel sizes
wrapped around 2^64 (a kernel of 0 elements was accepted)."""
import json
import os
import unittest

import h5py
import numpy as np

import ndarray_ref
from wbtest import run, tmpdir

G = {"lstm": 4, "gru": 3}
T, C, H = 4, 3, 5


def node(op, name, inputs=(), **attrs):
    n = {"op": op, "name": name, "inputs": [[i, 0, 0] for i in inputs]}
    if attrs:
        n["attrs"] = {k: str(v) for k, v in attrs.items()}
    return n


def write_symbol(path, nodes):
    with open(path, "w") as f:
        json.dump({"nodes": nodes, "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
                   "heads": [[len(nodes) - 1, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}}, f)


def rnn_nodes(mode="lstm", L=1, state_size=H, concat=None):
    """data (N, T, C) -> transpose -> RNN (flat parameters, or a concat of Gluon pieces) -> transpose."""
    nodes = [node("null", "data", __shape__="(0, %d, %d)" % (T, C)), node("transpose", "tnc", [0], axes="(1, 0, 2)")]
    if concat is not None:
        idx = []
        for name in concat:
            nodes.append(node("null", name))
            nodes.append(node("Reshape", name + "_r", [len(nodes) - 1], shape="(-1,)"))
            idx.append(len(nodes) - 1)
        nodes.append(node("_rnn_param_concat", "rnn0_concat", idx, dim="0", num_args=len(idx)))
    else:
        nodes.append(node("null", "rnn0_parameters"))
    ins = [1, len(nodes) - 1]
    for s in ("h0", "c0")[:2 if mode == "lstm" else 1]:
        nodes.append(node("_zeros", s, shape="(%s, 0, %d)" % (L, H)))
        ins.append(len(nodes) - 1)
    nodes.append(node("RNN", "rnn0", ins, mode=mode, state_size=state_size, num_layers=L, bidirectional=False,
                      state_outputs=False))
    nodes.append(node("transpose", "ntc", [len(nodes) - 1], axes="(1, 0, 2)"))
    return nodes


def flat_length(mode, L, width=C):
    s = G[mode] * H
    return s * (width + H + 2) + (L - 1) * s * (H + H + 2)


def gluon_pieces(mode, L, width=C):
    gh, out = G[mode] * H, []
    for l in range(L):
        for g, cols in (("i2h", width if l == 0 else H), ("h2h", H)):
            out.append(("rnn0_l%d_%s_weight" % (l, g), np.zeros((gh, cols), np.float32)))
    for l in range(L):
        for g in ("i2h", "h2h"):
            out.append(("rnn0_l%d_%s_bias" % (l, g), np.zeros(gh, np.float32)))
    return out


def write_lc(path, in_shape, cfg, kshape):
    c = {"name": "lc", "filters": 2, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid",
         "data_format": "channels_last", "use_bias": False, "activation": "linear", "implementation": 1,
         "batch_input_shape": [None] + list(in_shape)}
    c.update(cfg)
    mc = {"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "LocallyConnected2D", "config": c}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(mc).encode()
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"lc"]
        lg = g.create_group("lc")
        lg.attrs["weight_names"] = [b"lc/kernel:0"]
        lg.create_dataset("lc/kernel:0", shape=kshape, dtype="<f4")


class BreakNewOps(unittest.TestCase):
    def refused(self, d, args, code, *words):
        p = run(*args)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(p.returncode, code, p.stdout + p.stderr)
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("weightbridge: "), p.stderr)
        for w in words:
            self.assertIn(w, lines[0])
        self.assertEqual([f for f in os.listdir(d) if f.startswith("out")], [])

    def mx(self, tag, nodes, pairs):
        d = tmpdir("break_" + tag)
        write_symbol(d + "/m-symbol.json", nodes)
        ndarray_ref.save(d + "/m-0000.params", pairs)
        return d, ["convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/out.h5"]

    def test_parameter_length_of_another_input_width(self):
        # 2 stacked LSTM layers: 40 or 20 elements short of the length for 3 features is the length
        # for 1 or 2 features; the data declares 3.
        for width in (1, 2):
            with self.subTest(width=width):
                flat = np.zeros(flat_length("lstm", 2, width), np.float32)
                d, args = self.mx("width%d" % width, rnn_nodes(L=2), [("arg:rnn0_parameters", flat)])
                self.refused(d, args, 4, "m-symbol.json", "node 'rnn0'", "input width of %d" % width, "3 features")
        # the same through a Gluon concat of per-layer pieces
        pieces = gluon_pieces("lstm", 2, width=2)
        d, args = self.mx("width_concat", rnn_nodes(L=2, concat=[n for n, _ in pieces]), pieces)
        self.refused(d, args, 4, "node 'rnn0'", "input width of 2", "3 features")
        # sanity: the right length converts
        d, args = self.mx("width_ok", rnn_nodes(L=2), [("arg:rnn0_parameters", np.zeros(flat_length("lstm", 2), np.float32))])
        self.assertEqual(run(*args).returncode, 0)

    def test_gluon_name_errors_name_the_file(self):
        pieces = gluon_pieces("lstm", 2)
        bad = [(n, np.zeros((20, 6), np.float32)) if n == "rnn0_l1_i2h_weight" else (n, a) for n, a in pieces]
        d, args = self.mx("gluon_shape", rnn_nodes(L=2), bad)
        self.refused(d, args, 4, "m-0000.params", "node 'rnn0'", "rnn0_l1_i2h_weight", "(20, 6)")
        d, args = self.mx("gluon_dup", rnn_nodes(L=1), gluon_pieces("lstm", 1) + [("rnn0__unfused.0.i2h_weight", np.zeros((20, 3), np.float32))])
        self.refused(d, args, 4, "m-0000.params", "same piece")
        d, args = self.mx("gluon_attr", rnn_nodes(L="x"), pieces)
        self.refused(d, args, 3, "m-symbol.json", "node 'rnn0' (RNN)", 'invalid integer "x"')

    def test_huge_state_size(self):
        # G * state_size overflowed 64 bits while Gluon pieces were matched
        for mode, size in (("lstm", 1 << 62), ("gru", 3074457345618258603)):
            with self.subTest(mode=mode):
                d, args = self.mx("gluon_h_" + mode, rnn_nodes(mode, state_size=size), gluon_pieces(mode, 1))
                self.refused(d, args, 3, "m-symbol.json", "node 'rnn0'", "state_size = %d is out of range" % size)
        # (L - 1) * S * (D H + H + 2) overflowed for a state_size within 1..2^40 and L > 1
        for L in (2, 64):
            with self.subTest(L=L):
                d, args = self.mx("flat_h_L%d" % L, rnn_nodes(L=L, state_size=1 << 40),
                                  [("arg:rnn0_parameters", np.zeros(440, np.float32))])
                self.refused(d, args, 4, "m-symbol.json", "node 'rnn0'", "parameters (440,) do not fit")

    def test_transpose_with_more_axes_than_its_input(self):
        # data (N, 5) transposed with 3 axes: slice_axis read the shape past its end, softmax wrote a
        # Keras file that could not run
        for tag, last in (("slice", node("slice_axis", "sl", [1], axis=1, begin=0, end=1)),
                          ("softmax", node("softmax", "sm", [1], axis=1))):
            with self.subTest(tag=tag):
                nodes = [node("null", "data", __shape__="(0, 5)"), node("transpose", "t", [0], axes="(0, 2, 1)"), last]
                d, args = self.mx("transpose_" + tag, nodes, [])
                self.refused(d, args, 3, "m-symbol.json", "node 't' (transpose)", "do not match the input rank")

    def test_locally_connected_kernel_size_overflow(self):
        # implementation 3: out positions x kernel x channels x filters = 2^42 * 2^21 * 2^24 wrapped to 0,
        # and a stored kernel of 0 elements was accepted; implementation 1: kernel x channels wrapped
        cases = [("impl3", (2 ** 21, 2 ** 21, 2 ** 21), {"implementation": 3, "filters": 2 ** 24}, (0,)),
                 ("impl1", (2 ** 24, 2 ** 24, 2 ** 40), {"kernel_size": [2 ** 24, 2 ** 24], "filters": 1}, (1, 0, 1))]
        for tag, shape, cfg, kshape in cases:
            with self.subTest(tag=tag):
                d = tmpdir("break_lc_" + tag)
                write_lc(d + "/m.h5", shape, cfg, kshape)
                self.refused(d, ["convert", d + "/m.h5", "--to", "keras", "-o", d + "/out.h5"], 3, "m.h5", "layer 'lc'", "overflows")


if __name__ == "__main__":
    unittest.main()
