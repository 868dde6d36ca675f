"""The scan engine: libcst-based static analysis of training scripts.  Never imports TensorFlow."""
