"""The verify engine: reads real checkpoints (no TensorFlow on the fast path) and replays steps."""
