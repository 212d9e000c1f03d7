"""TensorFlow.js as the outside oracle for the reference engine.

tests/tfjs/gen_models.py writes small Keras 2.2.4 models with random weights; TensorFlow.js 4.22
(an independent implementation of the Keras layers, run under node, CPU backend) predicts each
one's input (tests/tfjs/predict.js). weightbridge must then reproduce those outputs from the
.h5 file (`weightbridge run`) and from its MXNet export (`convert --to mxnet`, then `run` on the
symbol + params, which keep the Keras input layout). See tests/tfjs/README.md for the model list
and for the features that TensorFlow.js lacks (those need hand-derived numpy cases instead).

The TensorFlow.js install (scripts/setup-oracles.sh) is found through WB_TFJS_DIR, else in
tests/tfjs or build/tfjs; node comes from PATH. Missing under CI=true is a failure, else a skip.
"""
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np

import wbtest

HERE = os.path.dirname(os.path.abspath(__file__))
TFJS_SRC = os.path.normpath(os.path.join(HERE, "..", "tfjs"))
ATOL = 1e-5
RTOL = 1e-5
MIN_MODELS = 20

def find_tfjs():
    for d in (os.environ.get("WB_TFJS_DIR"), TFJS_SRC, os.path.join(HERE, "..", "..", "build", "tfjs")):
        if d and os.path.isfile(os.path.join(d, "node_modules", "@tensorflow", "tfjs", "package.json")):
            return os.path.abspath(d)
    return None


def unavailable(why):
    if wbtest.IN_CI:
        raise AssertionError(why + " (required under CI; run scripts/setup-oracles.sh)")
    raise unittest.SkipTest(why + " (run scripts/setup-oracles.sh)")


def tail(text, lines=6):
    return "\n".join(text.strip().splitlines()[-lines:])


class TfjsOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        node = shutil.which("node")
        if node is None:
            unavailable("node is not on PATH")
        tfjs = find_tfjs()
        if tfjs is None:
            unavailable("@tensorflow/tfjs is not installed (WB_TFJS_DIR, tests/tfjs, build/tfjs)")
        cls.out = wbtest.tmpdir("tfjs")
        subprocess.run([sys.executable, os.path.join(TFJS_SRC, "gen_models.py"), cls.out],
                       check=True, capture_output=True, timeout=120)
        cls.generated = sorted(d for d in os.listdir(cls.out) if os.path.isdir(os.path.join(cls.out, d)))
        env = dict(os.environ, NODE_PATH=os.path.join(tfjs, "node_modules"))
        p = subprocess.run([node, os.path.join(TFJS_SRC, "predict.js")]
                           + [os.path.join(cls.out, d) for d in cls.generated],
                           capture_output=True, text=True, timeout=300, env=env)
        cls.predict_log = p.stdout + p.stderr
        cls.cases = [d for d in cls.generated if os.path.exists(os.path.join(cls.out, d, "expected.npy"))]

    def path(self, case, name):
        return os.path.join(self.out, case, name)

    def assert_matches(self, case, got_path):
        want = np.load(self.path(case, "expected.npy")).astype(np.float64)
        got = np.load(got_path).astype(np.float64)
        self.assertEqual(got.shape, want.shape, "%s: output shape %s, TensorFlow.js gave %s"
                         % (case, got.shape, want.shape))
        bad = ~np.isclose(got, want, atol=ATOL, rtol=RTOL)
        if bad.any():
            i = np.unravel_index(np.argmax(np.abs(got - want) * bad), got.shape)
            self.fail("%s: %d of %d values differ beyond atol %g + rtol %g; max |diff| %.3g at %s "
                      "(weightbridge %r, TensorFlow.js %r)" % (case, bad.sum(), bad.size, ATOL, RTOL,
                      np.abs(got - want).max(), list(i), got[i], want[i]))

    def run_wb(self, case, *args):
        p = wbtest.run(*args)
        if p.returncode != 0:
            hint = " (usage error: does this build have the '%s' verb?)" % args[0] if p.returncode == 2 else ""
            self.fail("%s: weightbridge %s failed: exit %d%s: %s"
                      % (case, args[0], p.returncode, hint, tail(p.stderr or p.stdout)))

    def test_tfjs_predicted_every_model(self):
        missing = sorted(set(self.generated) - set(self.cases))
        self.assertEqual(missing, [], "TensorFlow.js could not run these models:\n" + self.predict_log)
        self.assertGreaterEqual(len(self.cases), MIN_MODELS)

    def test_keras_file_runs_like_tfjs(self):
        self.assertGreaterEqual(len(self.cases), MIN_MODELS, self.predict_log)
        for case in self.cases:
            with self.subTest(model=case):
                y = self.path(case, "y_keras.npy")
                self.run_wb(case, "run", self.path(case, "model.h5"),
                            "--input", self.path(case, "x.npy"), "-o", y)
                self.assert_matches(case, y)

    def test_mxnet_export_runs_like_tfjs(self):
        self.assertGreaterEqual(len(self.cases), MIN_MODELS, self.predict_log)
        for case in self.cases:
            with self.subTest(model=case):
                prefix = self.path(case, "mx")
                p = wbtest.run("convert", self.path(case, "model.h5"), "--to", "mxnet", "-o", prefix)
                if p.returncode != 0:
                    self.fail("%s: weightbridge convert failed: exit %d: %s"
                              % (case, p.returncode, tail(p.stderr or p.stdout)))
                y = self.path(case, "y_mxnet.npy")
                self.run_wb(case, "run", prefix + "-symbol.json", prefix + "-0000.params",
                            "--input", self.path(case, "x.npy"), "-o", y)
                self.assert_matches(case, y)


if __name__ == "__main__":
    unittest.main()
