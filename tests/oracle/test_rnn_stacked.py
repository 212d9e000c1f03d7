"""MXNet's fused RNN op with num_layers > 1 (Gluon rnn.LSTM(num_layers=2) and the like): read as that
many stacked Keras layers, each taking the previous one's sequence. The symbols and flat parameter
vectors are written here; the expected outputs come from mxnet_numpy, a numpy evaluator of the
symbol that follows MXNet's documented layout (formats-mxnet.md 8.10: all layers' weights, then all
biases). The same weights under Gluon's per-layer names (l0_i2h_weight, l1_..., r0_...) are packed
into the flat vector in that order."""
import json
import os
import unittest

import h5py
import numpy as np

import mxnet_numpy
import ndarray_ref
from wbtest import run, tmpdir

T, N, C, H = 4, 2, 3, 5
G = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def flat_length(mode, L, D):
    s = G[mode] * H * D
    return s * (C + H + 2) + (L - 1) * s * (D * H + H + 2)


def write_symbol(path, mode, L, D, last=False):
    nodes = [
        {"op": "null", "name": "data", "attrs": {"__shape__": "(0, %d, %d)" % (T, C)}, "inputs": []},
        {"op": "transpose", "name": "tnc", "attrs": {"axes": "(1, 0, 2)"}, "inputs": [[0, 0, 0]]},
        {"op": "null", "name": "rnn0_parameters", "inputs": []},
        {"op": "_zeros", "name": "rnn0_h0", "attrs": {"shape": "(%d, 0, %d)" % (L * D, H)}, "inputs": []},
    ]
    ins = [[1, 0, 0], [2, 0, 0], [3, 0, 0]]
    if mode == "lstm":
        nodes.append({"op": "_zeros", "name": "rnn0_c0", "attrs": {"shape": "(%d, 0, %d)" % (L * D, H)}, "inputs": []})
        ins.append([4, 0, 0])
    nodes.append({"op": "RNN", "name": "rnn0", "inputs": ins,
                  "attrs": {"mode": mode, "state_size": str(H), "num_layers": str(L),
                            "bidirectional": str(D == 2), "p": "0.2", "state_outputs": "False"}})
    rnn = len(nodes) - 1
    if last:
        nodes.append({"op": "SequenceLast", "name": "last", "attrs": {"axis": "0"}, "inputs": [[rnn, 0, 0]]})
    else:
        nodes.append({"op": "transpose", "name": "ntc", "attrs": {"axes": "(1, 0, 2)"}, "inputs": [[rnn, 0, 0]]})
    args = [i for i, n in enumerate(nodes) if n["op"] == "null"]
    with open(path, "w") as f:
        json.dump({"nodes": nodes, "arg_nodes": args, "heads": [[len(nodes) - 1, 0, 0]],
                   "attrs": {"mxnet_version": ["int", 10600]}}, f)


def gluon_pieces(flat, mode, L, D):
    """The flat vector cut into Gluon's per-layer Parameters, in 8.10 order."""
    gh, out, pos = G[mode] * H, [], 0
    for l in range(L):
        width = C if l == 0 else D * H
        for d in "lr"[:D]:
            for g, cols in (("i2h", width), ("h2h", H)):
                out.append(("rnn0_%s%d_%s_weight" % (d, l, g), flat[pos:pos + gh * cols].reshape(gh, cols)))
                pos += gh * cols
    for l in range(L):
        for d in "lr"[:D]:
            for g in ("i2h", "h2h"):
                out.append(("rnn0_%s%d_%s_bias" % (d, l, g), flat[pos:pos + gh]))
                pos += gh
    assert pos == flat.size
    return out


class StackedFusedRNN(unittest.TestCase):
    def check(self, mode, L, D, last=False, gluon=False):
        tag = "%s_L%d_D%d%s%s" % (mode, L, D, "_last" if last else "", "_gluon" if gluon else "")
        d = tmpdir("rnn_stacked_" + tag)
        rng = np.random.default_rng(L * 10 + D)
        flat = rng.uniform(-0.6, 0.6, flat_length(mode, L, D)).astype(np.float32)
        write_symbol(d + "/m-symbol.json", mode, L, D, last)
        ndarray_ref.save(d + "/m-0000.params", gluon_pieces(flat, mode, L, D) if gluon else [("arg:rnn0_parameters", flat)])
        ndarray_ref.save(d + "/ref-0000.params", [("arg:rnn0_parameters", flat)])
        with open(d + "/m-symbol.json") as f, open(d + "/ref-symbol.json", "w") as g:
            g.write(f.read())
        x = rng.uniform(-1, 1, (N, T, C)).astype(np.float32)
        (want,), _ = mxnet_numpy.evaluate(d + "/ref", x)
        np.save(d + "/x.npy", x)
        run("run", d + "/m-symbol.json", d + "/m-0000.params", "--input", d + "/x.npy", "-o", d + "/y.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/y.npy"), want, atol=1e-5, err_msg=tag)
        # Keras: L stacked layers, and the written file computes the same
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5", "--verify",
                "--manifest", d + "/manifest.json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)
        with open(d + "/manifest.json") as f:
            rows = json.load(f)["tensors"]
        self.assertEqual(len(rows), L * D * 3, tag)  # kernel, recurrent_kernel, bias per layer and direction
        for r in rows:  # every written tensor names the source it came from
            self.assertTrue(r["source_name"].startswith("rnn0_parameters"), r)
        with h5py.File(d + "/k.h5", "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        rec = [l for l in layers if l["class_name"] in ("LSTM", "GRU", "SimpleRNN", "Bidirectional")]
        self.assertEqual(len(rec), L, tag)
        run("run", d + "/k.h5", "--input", d + "/x.npy", "-o", d + "/yk.npy", check=0)
        np.testing.assert_allclose(np.load(d + "/yk.npy"), want, atol=1e-5, err_msg=tag)

    def test_modes_layers_directions(self):
        for mode in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
            for L, D in ((2, 1), (3, 2)):
                with self.subTest(mode=mode, L=L, D=D):
                    self.check(mode, L, D)

    def test_last_output(self):
        self.check("lstm", 2, 1, last=True)

    def test_gluon_per_layer_names(self):
        for mode, L, D in (("lstm", 2, 2), ("gru", 3, 1)):
            with self.subTest(mode=mode):
                self.check(mode, L, D, gluon=True)

    def test_states_of_a_stacked_op_refused(self):
        d = tmpdir("rnn_stacked_states")
        write_symbol(d + "/m-symbol.json", "gru", 2, 1)
        with open(d + "/m-symbol.json") as f:
            sym = json.load(f)
        sym["nodes"][4]["attrs"]["state_outputs"] = "True"
        with open(d + "/m-symbol.json", "w") as f:
            json.dump(sym, f)
        ndarray_ref.save(d + "/m-0000.params", [("arg:rnn0_parameters", np.zeros(flat_length("gru", 2, 1), np.float32))])
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("num_layers > 1", p.stderr)
        self.assertFalse(os.path.exists(d + "/k.h5"))

    def test_wrong_length_is_a_mapping_error(self):
        d = tmpdir("rnn_stacked_len")
        write_symbol(d + "/m-symbol.json", "lstm", 2, 2)
        ndarray_ref.save(d + "/m-0000.params", [("arg:rnn0_parameters", np.zeros(flat_length("lstm", 2, 2) - 1, np.float32))])
        p = run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertIn("num_layers=2", p.stderr)


if __name__ == "__main__":
    unittest.main()
