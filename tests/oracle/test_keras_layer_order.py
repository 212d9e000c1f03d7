"""Keras pairs a file's weighted layer groups with the model's weighted layers by position, in
the order its functional model lists them (Network._map_graph_network in Keras 2 and tf.keras,
map_graph in Keras 3): by depth from the outputs, deepest first, ties in the order a depth-first
walk from the outputs first reaches them. Finding of a writer audit: an MXNet graph with branches
was written in the symbol's order, so Keras put weights into the wrong layers (or refused a residual
block). Here the order is derived by hand for one graph and by an independent implementation of
Keras' rule for random branching graphs; the written file, loaded the way Keras loads it (by
position), must compute what numpy computes from the MXNet weights."""
import json
import unittest

import h5py
import numpy as np

import ndarray_ref
from test_break_new_ops import node, write_symbol
from wbtest import run, tmpdir

W = 6  # every Dense is W -> W, so a misplaced weight still fits


def keras_order(layers, inputs_of, outputs):
    """Keras' model.layers order for a graph without shared layers."""
    reached, post, done = {}, [], set()

    def walk(n):
        if n in done:
            return
        reached.setdefault(n, len(reached))
        for p in inputs_of.get(n, []):
            walk(p)
        done.add(n)
        post.append(n)
    for o in outputs:
        walk(o)
    depth = {}
    for n in reversed(post):
        d = depth.setdefault(n, 0)
        for p in inputs_of.get(n, []):
            depth[p] = max(depth.get(p, 0), d + 1)
    return sorted(post, key=lambda n: (-depth[n], reached[n]))


def random_graph(rs, n_dense):
    """[(name, op, inputs)] in MXNet (topological) order: Dense layers and adds over earlier values."""
    g, values = [], ["data"]
    for i in range(n_dense):
        if i > 1 and rs.rand() < 0.4:
            a, b = rs.choice(len(values), 2, replace=False)
            g.append(("add%d" % i, "add", [values[a], values[b]]))
            values.append("add%d" % i)
        g.append(("fc%d" % i, "fc", [values[rs.randint(len(values))]]))
        values.append("fc%d" % i)
    used = {i for _, _, ins in g for i in ins}
    ends = [v for v in values[1:] if v not in used]
    out = ends[0]
    for j, e in enumerate(ends[1:]):
        g.append(("join%d" % j, "add", [out, e]))
        out = "join%d" % j
    return g, out


class KerasLayerOrder(unittest.TestCase):
    def convert(self, tag, graph, out, rs):
        nodes, idx, params, weights = [node("null", "data", __shape__="(0, %d)" % W)], {"data": 0}, [], {}
        for name, op, ins in graph:
            if op == "fc":
                w, b = rs.randn(W, W), rs.randn(W)
                weights[name] = (w, b)
                nodes += [node("null", name + "_weight"), node("null", name + "_bias")]
                params += [("arg:%s_weight" % name, w), ("arg:%s_bias" % name, b)]
                nodes.append(node("FullyConnected", name, [idx[ins[0]], len(nodes) - 2, len(nodes) - 1], num_hidden=W))
            else:
                nodes.append(node("elemwise_add", name, [idx[i] for i in ins]))
            idx[name] = len(nodes) - 1
        assert idx[out] == len(nodes) - 1
        d = tmpdir("layer_order_" + tag)
        write_symbol(d + "/m-symbol.json", nodes)
        ndarray_ref.save(d + "/m-0000.params", params)
        run("convert", d + "/m-symbol.json", d + "/m-0000.params", "--to", "keras", "-o", d + "/m.h5", check=0)
        return d, weights

    def check(self, d, graph, out, weights, want_order):
        with h5py.File(d + "/m.h5", "r") as f:
            names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
            config = [l["name"] for l in json.loads(f.attrs["model_config"])["config"]["layers"]]
            stored = [(np.array(f["model_weights"][n][n]["kernel:0"]), np.array(f["model_weights"][n][n]["bias:0"]))
                      for n in names if n in weights]
        self.assertEqual(names, want_order)
        self.assertEqual(config, want_order)
        # Keras' loader: the k-th weighted group of the file goes to the k-th weighted layer.
        loaded = dict(zip([n for n in want_order if n in weights], stored))
        x = np.random.RandomState(0).randn(3, W)
        vals = {"data": x}
        for name, op, ins in graph:
            vals[name] = vals[ins[0]] @ loaded[name][0] + loaded[name][1] if op == "fc" else sum(vals[i] for i in ins)
        mx = {"data": x}
        for name, op, ins in graph:
            mx[name] = mx[ins[0]] @ weights[name][0].T + weights[name][1] if op == "fc" else sum(mx[i] for i in ins)
        np.testing.assert_allclose(vals[out], mx[out], rtol=1e-5, atol=1e-4)

    def test_branch_derived_by_hand(self):
        # data -> fc_a -> fc_b; data -> fc_c; add(fc_c, fc_b). The walk from add reaches fc_c (1),
        # data, fc_b (3), fc_a; depths add 0, fc_c 1, fc_b 1, fc_a 2, data 3.
        graph = [("fc_a", "fc", ["data"]), ("fc_b", "fc", ["fc_a"]), ("fc_c", "fc", ["data"]),
                 ("add0", "add", ["fc_c", "fc_b"])]
        d, weights = self.convert("hand", graph, "add0", np.random.RandomState(1))
        self.check(d, graph, "add0", weights, ["data", "fc_a", "fc_c", "fc_b", "add0"])

    def test_doctor_names_a_file_in_another_order(self):
        # The same file with its groups listed in the symbol's order, as earlier converters wrote
        # it: it reads right by name, and Keras would load fc_b's group into fc_c.
        graph = [("fc_a", "fc", ["data"]), ("fc_b", "fc", ["fc_a"]), ("fc_c", "fc", ["data"]),
                 ("add0", "add", ["fc_c", "fc_b"])]
        d, _ = self.convert("doctor", graph, "add0", np.random.RandomState(2))
        doc = json.loads(run("doctor", "--json", d + "/m.h5").stdout)
        self.assertEqual([f for f in doc["findings"] if f["code"] == "layer-order"], [])
        with h5py.File(d + "/m.h5", "r+") as f:
            f["model_weights"].attrs["layer_names"] = [n.encode() for n in ("data", "fc_a", "fc_b", "fc_c", "add0")]
        doc = json.loads(run("doctor", "--json", d + "/m.h5").stdout)
        found = [f for f in doc["findings"] if f["code"] == "layer-order"]
        self.assertEqual(len(found), 1, doc)
        self.assertEqual((found[0]["severity"], found[0]["kind"]), ("error", "naming"))
        self.assertIn("load group 'fc_b' into layer 'fc_c'", found[0]["message"])
        self.assertIn("--to keras", found[0]["fix"])

    def test_random_branching_graphs(self):
        for seed in range(6):
            rs = np.random.RandomState(100 + seed)
            graph, out = random_graph(rs, 7)
            inputs_of = {name: ins for name, _, ins in graph}
            want = keras_order(["data"] + [g[0] for g in graph], inputs_of, [out])
            with self.subTest(seed=seed):
                d, weights = self.convert("seed%d" % seed, graph, out, rs)
                self.check(d, graph, out, weights, want)


if __name__ == "__main__":
    unittest.main()
