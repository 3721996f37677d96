"""Turning a list of samples into a batch: `default_collate` and `default_convert`."""
import collections.abc
import numbers

import numpy as np

from mytorch import backend, dtypes
from mytorch.tensor import Tensor

_BAD_TYPE = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
             "lists; found {}")


def default_collate(batch):
    """Stack a list of samples into a batch, recursing into the samples' structure.

    - mytorch Tensors and NumPy arrays (same shape) -> a Tensor with a new leading dim;
    - Python ints -> int64, Python floats -> the default float dtype (float32), bools -> bool,
      NumPy scalars keep their dtype;
    - strings/bytes -> the list as is;
    - dicts -> a dict of collated values; namedtuples -> the same namedtuple of batches;
      tuples/lists -> a list of collated fields (PyTorch's convention).

    >>> default_collate([(np.zeros(3), 1), (np.ones(3), 2)])
    [tensor of shape (2, 3), tensor([1, 2])]
    """
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return Tensor._wrap(_stack([t.data for t in batch], "tensor"))
    if isinstance(elem, np.ndarray) or \
            (isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_))):
        if elem.dtype.kind in "OUSV":
            raise TypeError(_BAD_TYPE.format(elem.dtype))
        return Tensor._wrap(_stack([np.asarray(b) for b in batch], "array"))
    if isinstance(elem, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor._wrap(_numbers(batch, np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor._wrap(_numbers(batch, dtypes.get_default_dtype()))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _rebuild(type(elem), out)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise RuntimeError(f"default_collate: each element in list of batch should be of "
                                   f"equal size, got {size} at entry 0 and {len(b)} at entry {i}")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        return _rebuild(type(elem), fields)
    raise TypeError(_BAD_TYPE.format(type(elem)))


def default_convert(data):
    """Arrays -> Tensors inside a sample, without batching (used when `batch_size=None`)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind not in "OUSV":
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(type(data), {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        return _rebuild(type(data), [default_convert(d) for d in data])
    return data


def _stack(arrays, what):
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise RuntimeError(f"default_collate: stack expects each {what} to be equal size, but "
                               f"got {tuple(shape)} at entry 0 and {tuple(a.shape)} at entry {i}")
    return backend.array_module(arrays[0]).stack(arrays)


def _numbers(batch, dtype):
    out = np.array(batch)
    if out.dtype.kind == "f" and np.dtype(dtype).kind != "f":  # ints mixed with floats
        dtype = dtypes.get_default_dtype()
    return out.astype(dtype, copy=False)


def _rebuild(cls, value):
    # Keep the container type when its constructor accepts the collated value.
    if cls is dict or cls is list:
        return value
    try:
        return cls(value)
    except TypeError:
        return value
