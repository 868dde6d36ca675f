"""Run-time companions that users import inside their training scripts."""
