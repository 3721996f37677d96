"""`mytorch.backends.mkldnn`: oneDNN, which mytorch does not use (CPU math is NumPy's BLAS)."""
enabled = True


def is_available():
    return False
