"""Parameter initialisation with PyTorch's distributions (in progress)."""
