"""Reproducible experiments: each zoo model trained in mytorch and in PyTorch."""
