"""Utilities beside the core: `mytorch.utils.data` (datasets, samplers, DataLoader)."""
from mytorch.utils import data  # noqa: F401
