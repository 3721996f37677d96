"""Utilities for batches of variable-length sequences."""
from collections.abc import Iterable

import mytorch
from mytorch.tensor import Tensor

__all__ = ["pad_sequence"]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack variable-length sequences (L_i, *) into one (T, B, *) Tensor ((B, T, *) with
    batch_first), T = max L_i, filling the gap with `padding_value` after each sequence
    (padding_side="right") or before it ("left"). The result takes the dtype of the first
    sequence; gradients flow back to every sequence.

    >>> pad_sequence([mytorch.ones(3, 2), mytorch.ones(1, 2)], batch_first=True).shape
    (2, 3, 2)
    """
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: expected an iterable of Tensors, but got "
                           f"{type(sequences).__name__}")
    sequences = tuple(sequences)
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                           f"{padding_side!r}")
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: expected Tensors, got {type(s).__name__} at "
                            f"entry {i}")
        if s.ndim == 0 or s.shape[1:] != first.shape[1:]:
            raise RuntimeError(f"pad_sequence: sequences must be (L, *) with the same trailing "
                               f"dims; entry 0 has shape {tuple(first.shape)}, entry {i} has "
                               f"shape {tuple(s.shape)}")
    dtype, trailing = first.dtype, tuple(first.shape[1:])
    max_len = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        s = s.to(dtype)
        gap = max_len - s.shape[0]
        if gap:
            fill = mytorch.full((gap, *trailing), padding_value, dtype=dtype, device=s.device)
            s = mytorch.cat([s, fill] if padding_side == "right" else [fill, s])
        padded.append(s)
    return mytorch.stack(padded, 0 if batch_first else 1)
