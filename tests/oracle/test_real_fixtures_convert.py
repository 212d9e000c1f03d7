"""Every real model fixture converts to the other framework and `--verify` passes (the converted
files re-read and run against the source on the same input), then converts back (or, for layers
written as per-step ops, the way back is refused in one line). Files that hold weights only or a symbol only are not
models on their own and are covered with their architecture where the fixtures have one."""
import os
import unittest

from wbtest import fixture, run, tmpdir

# (name, source files, extra options, how MXNet -> Keras goes back: "keras" (verify passes) or the
# word of its one-line refusal)
KERAS = [
    ("k1_lstm", ["keras1/simple_lstm_th_model.h5"], [], "SliceAxis"),  # hard_sigmoid gates: per-step ops
    ("k1_lstm_weights", ["keras1/simple_lstm_th_weights.h5", "--arch", "keras1/simple_lstm_th_model.h5"], [], "SliceAxis"),
    ("k1_mnist_th", ["keras1/k2c_mnist_cnn_th_weights.h5", "--arch", "keras1/k2c_mnist_cnn_th_arch.json"],
     ["--kernel-flip", "yes"], "keras"),
    ("k1_conv_tf", ["keras1/batch_to_conv2d_tf.h5"], [], "keras"),
    ("k2_conv_theano", ["keras2/batch_to_conv2d_theano.h5"], [], "keras"),
    ("k2_fdeep", ["keras2/bidi_lstm_fdeep.h5"], ["--input-shape", "input_3=6,4"], "SliceAxis"),
    ("k2_causal", ["keras2/causal_conv1d_dilated_model.h5"], [], "keras"),
    ("k2_cnn_bn", ["keras2/cnn_batch_norm.h5"], [], "keras"),
    ("k2_mlp_adam", ["keras2/mlp_adam_training_config.h5"], [], "keras"),
    ("k2_prelu", ["keras2/prelu_12net.h5"], ["--input-shape", "12,12,3"], "keras"),
    ("k2_sepconv", ["keras2/separable_conv2d.h5"], [], "keras"),
    ("k2_lstm", ["keras2/simple_lstm_tf_model.h5"], [], "SliceAxis"),
    ("k2_lstm_weights", ["keras2/simple_lstm_tf_weights.h5", "--arch", "keras2/simple_lstm_tf_config.json"], [], "SliceAxis"),
    ("k3_mlp", ["keras3/flownet_mlp.keras"], [], "keras"),
    ("k3_mlp_weights", ["keras3/flownet_mlp.weights.h5", "--arch", "keras3/flownet_mlp.keras"], [], "keras"),
    ("tf_deconv", ["tfkeras/conv2d_transpose.h5"], [], "keras"),
    ("tf_depthwise", ["tfkeras/depthwise_conv2d.h5"], [], "keras"),
    ("tf_embed_conv1d", ["tfkeras/functional_embedding_conv1d.hdf5"], [], "keras"),
    ("tf_gru_linear", ["tfkeras/gru_two_inputs.h5"], [], "SliceAxis"),  # activation 'linear': per-step ops
    ("tf_lstm_weights", ["tfkeras/lstm_weights_only.h5", "--arch", "tfkeras/lstm_weights_only_model.json"], [], "keras"),
    ("tf_bidi_simplernn", ["tfkeras/rnn_bidi_simplernn.h5"], [], "keras"),
    ("tf_attention", ["tfkeras/attention_optimizer_weights.h5"], [], "keras"),
    ("tf_convlstm_bidi", ["tfkeras/convlstm2d_bidi.h5"], [], "SliceAxis"),  # per-step convolutions
]

MXNET = [
    ("mx_smilecnn", ["mxnet-module/smilecnn_kerasmxnet-symbol.json", "mxnet-module/smilecnn_kerasmxnet-0000.params"]),
    ("mx_linreg", ["mxnet-module/linreg-symbol.json", "mxnet-module/linreg-0000.params"]),
    ("mx_gluon_mlp", ["mxnet-gluon/mnist_mlp_gluon-symbol.json", "mxnet-gluon/mnist_mlp_gluon.params"]),
]


def sources(args):
    return [a if a.startswith("--") else fixture(a) for a in args]


class RealFixturesConvert(unittest.TestCase):
    def verify_ok(self, p, what):
        self.assertEqual(p.returncode, 0, "%s: %s" % (what, p.stdout + p.stderr))
        self.assertIn("verify: PASS", p.stdout, what)

    def test_keras_to_mxnet_and_back(self):
        for name, files, opts, back in KERAS:
            with self.subTest(name):
                d = tmpdir("realconv_" + name)
                self.verify_ok(run("convert", *sources(files), *opts, "--to", "mxnet", "-o", d + "/mx", "--verify"), name)
                mx = [d + "/mx-symbol.json", d + "/mx-0000.params"]
                shape = opts[opts.index("--input-shape"):][:2] if "--input-shape" in opts and "=" not in opts[-1] else []
                p = run("convert", *mx, *shape, "--to", "keras", "-o", d + "/back.h5", "--verify")
                if back == "keras":
                    self.verify_ok(p, name + " back to Keras")
                else:
                    self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                    self.assertIn(back, p.stderr)
                    self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                    self.assertFalse(os.path.exists(d + "/back.h5"))

    def test_mxnet_to_keras_and_back(self):
        for name, files in MXNET:
            with self.subTest(name):
                d = tmpdir("realconv_" + name)
                self.verify_ok(run("convert", *sources(files), "--to", "keras", "-o", d + "/k.h5", "--verify"), name)
                self.verify_ok(run("convert", d + "/k.h5", "--to", "mxnet", "-o", d + "/mx", "--verify"), name + " back")


if __name__ == "__main__":
    unittest.main()
