"""lraudit: find the ways a resumed TensorFlow/Keras training run gets the wrong learning rate."""

__version__ = "0.1.0"

# Set in the environment of every replay worker; the `lraudit` command refuses to start where it
# is set, so replay can never start lraudit (and more workers) again.  Kept here, not in the
# replay package, because the command line checks it before importing anything else.
WORKER_MARKER = "LRAUDIT_REPLAY_WORKER"
