"""Fused gradient buckets: gradients are packed into a few flat buffers of about `bucket_mb`
megabytes and each buffer is reduced with one collective, instead of one call per parameter."""
import numpy as np

from mytorch import backend
from mytorch.tensor import Tensor


class _Bucket:
    __slots__ = ("buffer", "device", "dtype", "numel", "offsets", "params")

    def __init__(self, dtype, device):
        self.params, self.offsets, self.numel = [], [], 0
        self.buffer, self.dtype, self.device = None, dtype, device

    def add(self, p):
        self.params.append(p)
        self.offsets.append(self.numel)
        self.numel += p.numel()


class GradBuckets:
    """Parameters grouped by (device, dtype) into buckets of at most `bucket_mb` megabytes (a
    parameter larger than that gets a bucket of its own).

    >>> buckets = GradBuckets(model.parameters(), bucket_mb=25)
    >>> loss.backward(); buckets.reduce(comm)   # every .grad now holds the mean over ranks
    """

    def __init__(self, params, bucket_mb=25.0):
        if bucket_mb <= 0:
            raise ValueError(f"GradBuckets: bucket_mb must be positive, got {bucket_mb}")
        self.bucket_bytes = int(bucket_mb * 2 ** 20)
        seen, ordered = set(), []
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                ordered.append(p)
        # Reverse registration order: the order in which backward finishes the gradients.
        open_buckets, self.buckets = {}, []
        for p in reversed(ordered):
            key = (p.device, p.dtype)
            b = open_buckets.get(key)
            if b is not None and (b.numel + p.numel()) * p.dtype.itemsize > self.bucket_bytes:
                b = None
            if b is None:
                b = open_buckets[key] = _Bucket(p.dtype, p.device)
                self.buckets.append(b)
            b.add(p)

    @property
    def params(self):
        return [p for b in self.buckets for p in b.params]

    def __len__(self):
        return len(self.buckets)

    def reduce(self, comm, average=True, scale=1.0, check_finite=False):
        """Sum every gradient over ranks (divided by the world size when `average`) and multiply by
        `scale`. A parameter gets a gradient when any rank had one; one no rank touched keeps
        `grad=None`. Gradients end up in the parameter's dtype. Returns whether all gradients
        are finite when `check_finite` (then the same answer on every rank), else None."""
        factor = scale / comm.size if average else scale
        finite = True
        reduced = []
        for b in self.buckets:
            xp = backend.module_for(b.device)
            n_params = len(b.params)
            if b.buffer is None:
                with _on(b.device, xp):
                    b.buffer = xp.empty(b.numel + n_params, b.dtype)
            buf = b.buffer
            flags = buf[b.numel:]
            for i, (p, off) in enumerate(zip(b.params, b.offsets)):
                n = p.numel()
                if p.grad is None:
                    buf[off:off + n] = 0
                    flags[i] = 0
                else:
                    buf[off:off + n] = p.grad.data.reshape(-1)
                    flags[i] = 1
            comm.allreduce(buf, "sum")
            reduced.append((b, xp, flags, xp.isfinite(buf[:b.numel]).all()
                            if check_finite else None))
        # The flags and the finite checks of every bucket come to the host in one copy: one
        # wait on the GPU per step, not two per bucket.
        host = _to_host([f for _, _, f, _ in reduced] +
                        ([ok for *_, ok in reduced] if check_finite else []))
        if check_finite:
            finite = all(bool(ok) for ok in host[len(reduced):])
        for (b, xp, _, _), flags in zip(reduced, host):
            buf = b.buffer
            factor_ = buf.dtype.type(factor)
            for i, (p, off) in enumerate(zip(b.params, b.offsets)):
                if flags[i] == 0:
                    continue
                g = buf[off:off + p.numel()].reshape(p.shape)
                if p.grad is None or p.grad.data.dtype != b.dtype \
                        or not p.grad.data.flags.c_contiguous:
                    p.grad = Tensor._wrap(xp.empty(p.shape, b.dtype))
                xp.multiply(g, factor_, out=p.grad.data)  # scale while copying out
        return finite if check_finite else None


def _to_host(arrays):
    """NumPy copies of `arrays` (GPU ones in a single transfer)."""
    def on_gpu(a):
        return backend.is_array(a) and not isinstance(a, np.ndarray)
    dev = [a for a in arrays if on_gpu(a)]
    if not dev:
        return arrays
    xp = backend.array_module(dev[0])
    with backend.device_scope(dev[0]):
        flat = xp.concatenate([a.reshape(-1).astype(np.float64) for a in dev])
    host, out, k = backend.to_device(flat, "cpu"), [], 0
    for a in arrays:
        if not on_gpu(a):
            out.append(a)
        else:
            out.append(host[k:k + a.size].reshape(a.shape))
            k += a.size
    return out


class _on:
    """Context: allocate on the right GPU (a no-op on the CPU)."""

    def __init__(self, device, xp):
        self.ctx = xp.cuda.Device(device.index) if device.type == "cuda" else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
