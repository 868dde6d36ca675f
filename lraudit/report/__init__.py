"""Renderers shared by scan and verify.  Each takes findings and returns the text to print."""
