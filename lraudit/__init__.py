"""lraudit: find the ways a resumed TensorFlow/Keras training run gets the wrong learning rate."""

__version__ = "0.1.0"
