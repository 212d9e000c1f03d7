"""--input-shape only fills what the files leave open: an unnamed shape for a model of several
inputs, a name that is not an input, or a shape that contradicts a declared dimension is a usage
error (exit 2) before anything is written. doctor reports what convert would refuse for the
target (target/unsupported), and nothing for a model the target takes."""
import json
import os
import re
import unittest

from test_locally_connected import write_model as write_lc
from wbtest import fixture, run, tmpdir, write_inputs_to_layer, write_sequential

FDEEP = "keras2/bidi_lstm_fdeep.h5"  # 5 inputs; input_3 is (None, 4)
SMILE = ["mxnet-module/smilecnn_kerasmxnet-symbol.json", "mxnet-module/smilecnn_kerasmxnet-0000.params"]  # (1, 32, 32)


def write_two_inputs(path):
    """Inputs a and b, both (None, 3) -> Add: a model whose open dimension one unnamed shape fills for both."""
    write_inputs_to_layer(path, [("a", [None, 3]), ("b", [None, 3])], "Add", {"name": "add"})


class InputShape(unittest.TestCase):
    def refused(self, files, shape, words, to="mxnet"):
        d = tmpdir("input_shape_refused")
        out = os.path.join(d, "out")
        p = run("convert", *[fixture(f) for f in files], "--to", to, "-o", out + (".h5" if to == "keras" else ""),
                *sum((["--input-shape", s] for s in shape), []))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        for w in words:
            self.assertIn(w, p.stderr)
        self.assertEqual(os.listdir(d), [])

    def test_unnamed_shape_for_several_inputs(self):
        # the first input it meets declares another shape; one that fits every declared input is
        # refused after reading, naming the inputs
        self.refused([FDEEP], ["6,4"], ["input_1", "(17, 4)", "NAME="])
        d = tmpdir("input_shape_two")
        two = os.path.join(d, "two.h5")
        write_two_inputs(two)
        p = run("convert", two, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "5,3")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("this one has 2 (a, b)", p.stderr)
        self.assertFalse(os.path.exists(d + "/mx-symbol.json"))

    def test_open_time_axis_refused_naming_file_and_layer(self):
        # fdeep's input_3 has an open time axis feeding an LSTM with hard_sigmoid gates: the MXNet
        # export needs the sequence length; the one-line refusal names the source file and the layer.
        d = tmpdir("input_shape_open_t")
        p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.startswith("weightbridge: %s: layer 'lstm_15'" % fixture(FDEEP)), p.stderr)
        self.assertIn("--input-shape input_3=T,4,", p.stderr)
        self.assertEqual(os.listdir(d), [])
        # with the fused op's sigmoid gates accepted, the export needs no length, but --verify's random
        # input does: refused before anything is written
        p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx", "--accept-sigmoid-for-hard-sigmoid", "--verify")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("input 'input_3' has an unknown dimension (?, 4): give --input-shape input_3=T,4", p.stderr)
        self.assertEqual(os.listdir(d), [])
        p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx", "--input-shape", "input_3=5,4", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)

    def test_doctor_names_every_layer_convert_writes_per_step(self):
        # Every recurrent layer of the fdeep model whose gates are not sigmoid (read here from the
        # model_config with h5py) is one MXNet's fused op cannot compute: convert notes it as
        # written per step, and doctor has a finding for it that names the same gate activation.
        import h5py
        with h5py.File(fixture(FDEEP), "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        gates = {}
        for l in cfg["config"]["layers"]:
            c = l["config"]["layer"]["config"] if l["class_name"] == "Bidirectional" else l["config"]
            if l["class_name"] in ("LSTM", "GRU", "Bidirectional"):
                gates[l["config"]["name"]] = c.get("recurrent_activation")
        not_sigmoid = {n: g for n, g in gates.items() if g != "sigmoid"}
        self.assertIn("relu", not_sigmoid.values())
        d = tmpdir("doctor_fdeep_per_step")
        p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx", "--input-shape", "input_3=5,4", check=0)
        noted = set(re.findall(r"note: layer (\S+): written as exact per-time-step MXNet ops", p.stdout))
        self.assertTrue(set(not_sigmoid) <= noted, (not_sigmoid, noted))
        doc = json.loads(run("doctor", fixture(FDEEP), "--to", "mxnet", "--json", check=1).stdout)
        for name, g in not_sigmoid.items():
            with self.subTest(layer=name):
                found = [f for f in doc["findings"] if f["kind"] == "rnn" and f["where"].startswith(name + " (")
                         and f["code"] in ("hard-sigmoid", "mxnet-rnn")]
                self.assertEqual(len(found), 1, found)
                self.assertIn(g, found[0]["message"] if g == "hard_sigmoid" else found[0]["message"] + found[0]["evidence"])

    def test_name_that_is_not_an_input(self):
        self.refused([FDEEP], ["input_9=6,4"], ["no input 'input_9'"])

    def test_contradicting_a_declared_dimension(self):
        self.refused([FDEEP], ["input_1=18,4"], ["input_1", "(17, 4)", "only fill unknown"])
        self.refused(SMILE, ["1,64,64"], ["(1, 32, 32)", "only fill unknown"], to="keras")
        self.refused(SMILE, ["1,32"], ["(1, 32, 32)"], to="keras")  # another rank

    def test_malformed_values(self):
        for bad in ("", "data=", "3,", "+3", " 3", "3,,4", "0,4", "-1,4", "4x4"):
            with self.subTest(value=bad):
                d = tmpdir("input_shape_malformed")
                p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx", "--input-shape", bad)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("--input-shape", p.stderr)
                self.assertEqual(os.listdir(d), [])

    def test_shape_the_weights_contradict(self):
        # an open input width filled with one the Dense kernel (3, 2) cannot take: exit 3 naming the layer
        import numpy as np
        d = tmpdir("input_shape_weights")
        src = os.path.join(tmpdir("input_shape_weights_src"), "m.h5")
        write_sequential(src, [None], [("Dense", {"name": "fc", "units": 2, "activation": "linear", "use_bias": False},
                                        [("kernel", np.ones((3, 2), np.float32))])])
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "5")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("layer 'fc'", p.stderr)
        self.assertIn("its input has 5 features, its kernel (3, 2) takes 3", p.stderr)
        self.assertEqual(os.listdir(d), [])
        p = run("convert", src, "--to", "mxnet", "-o", d + "/mx", "--input-shape", "3", "--verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_filling_the_open_dimension(self):
        d = tmpdir("input_shape_fill")
        p = run("convert", fixture(FDEEP), "--to", "mxnet", "-o", d + "/mx", "--input-shape", "input_3=6,4",
                "--input-shape", "input_1=17,4", "--verify")  # a declared shape may be repeated as it is
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: PASS", p.stdout)


class DoctorTarget(unittest.TestCase):
    def doctor(self, *args):
        p = run("doctor", *args, "--json")
        return p.returncode, json.loads(p.stdout)

    def codes(self, doc):
        return [(f["kind"], f["code"]) for f in doc["findings"]]

    def test_per_step_mxnet_export_to_keras(self):
        d = tmpdir("doctor_target_perstep")
        run("convert", fixture("keras1/simple_lstm_th_model.h5"), "--to", "mxnet", "-o", d + "/mx", check=0)
        code, doc = self.doctor(d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras")
        self.assertEqual(code, 1)
        f = [f for f in doc["findings"] if (f["kind"], f["code"]) == ("target", "unsupported")]
        self.assertEqual(len(f), 1, doc)
        self.assertEqual(f[0]["severity"], "error")
        self.assertIn("SliceAxis", f[0]["message"])
        self.assertIn("per-step ops of recurrent layer 'lstm_1'", f[0]["evidence"])
        # and convert indeed refuses it
        p = run("convert", d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "keras", "-o", d + "/k.h5")
        self.assertEqual(p.returncode, 3)
        # the same files are fine for MXNet itself: no such finding
        code, doc = self.doctor(d + "/mx-symbol.json", d + "/mx-0000.params", "--to", "mxnet")
        self.assertNotIn(("target", "unsupported"), self.codes(doc))

    def test_locally_connected_to_mxnet(self):
        d = tmpdir("doctor_target_lc")
        import numpy as np
        k = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2) / 10  # 4 positions, kernel 3 x 1 channel, 2 filters
        write_lc(d + "/lc.h5", (6, 1), [("LocallyConnected1D", {"name": "lc", "filters": 2, "kernel_size": [3], "strides": [1],
                                                                 "padding": "valid", "data_format": "channels_last",
                                                                 "activation": "linear", "use_bias": False, "implementation": 1},
                                         [("kernel", k)])])
        code, doc = self.doctor(d + "/lc.h5", "--to", "mxnet")
        self.assertEqual(code, 1, doc)
        f = [f for f in doc["findings"] if (f["kind"], f["code"]) == ("target", "unsupported")]
        self.assertEqual(len(f), 1, doc)
        self.assertIn("layer 'lc'", f[0]["where"])
        self.assertIn("no MXNet equivalent", f[0]["message"])
        code, doc = self.doctor(d + "/lc.h5", "--to", "keras")
        self.assertNotIn(("target", "unsupported"), self.codes(doc))


if __name__ == "__main__":
    unittest.main()
