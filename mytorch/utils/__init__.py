"""Utilities beside the core: `mytorch.utils.data` (datasets, samplers, DataLoader) and
`mytorch.utils.checkpoint` (activation checkpointing)."""
from mytorch.utils import checkpoint, data  # noqa: F401
