"""Utilities beside the core: `mytorch.utils.data` (datasets, samplers, DataLoader) and
`mytorch.utils.checkpoint` (activation checkpointing); `mytorch.utils.process` (whether a
process on this host still runs)."""
from mytorch.utils import checkpoint, data  # noqa: F401
