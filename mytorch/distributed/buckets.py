"""Fused gradient buckets: gradients are packed into a few flat buffers of about `bucket_mb`
megabytes and each buffer is reduced with one collective, instead of one call per parameter.
The collectives are nonblocking: attached to backward, a bucket leaves as soon as its last
gradient is ready and travels while backward computes the rest (issue #14)."""
import numpy as np

from mytorch import backend
from mytorch.autograd import engine
from mytorch.tensor import Tensor


class _Bucket:
    __slots__ = ("buffer", "complete", "device", "dtype", "numel", "offsets", "params")

    def __init__(self, dtype, device):
        self.params, self.offsets, self.numel = [], [], 0
        self.buffer, self.dtype, self.device = None, dtype, device
        self.complete = False  # every parameter had a gradient on this rank when it was sent

    def add(self, p):
        self.params.append(p)
        self.offsets.append(self.numel)
        self.numel += p.numel()


class GradBuckets:
    """Parameters grouped by (device, dtype) into buckets of at most `bucket_mb` megabytes (a
    parameter larger than that gets a bucket of its own).

    >>> buckets = GradBuckets(model.parameters(), bucket_mb=25)
    >>> loss.backward(); buckets.reduce(comm)   # every .grad now holds the mean over ranks
    >>> buckets.attach(comm)                    # or: buckets leave during every backward
    >>> loss.backward()                         # ... and .grad holds the mean when it returns
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
        self._left = None      # while a backward sends: gradients each bucket still waits for
        self._next = 0         # the next bucket to leave
        self._in_flight = []   # Requests of the buckets sent and not yet waited for

    @property
    def params(self):
        return [p for b in self.buckets for p in b.params]

    def __len__(self):
        return len(self.buckets)

    def reduce(self, comm, average=True, scale=1.0, check_finite=False):
        """Sum every gradient over ranks (divided by the world size when `average`) and multiply by
        `scale`. A parameter gets a gradient when any rank had one; one no rank touched keeps
        `grad=None`. Gradients end up in the parameter's dtype. Returns whether all gradients
        are finite when `check_finite` (then the same answer on every rank), else None.

        Host syncs on a GPU: none when every parameter had a gradient on this rank and
        `check_finite` is False; otherwise one (per device), however many buckets. Every
        bucket is started before the first is waited for."""
        self.reset()
        self._in_flight = [self._send(b, comm) for b in self.buckets]
        return self.finish(comm, average, scale, check_finite)

    # ---- during backward: a bucket leaves as soon as its last gradient is ready ----

    def attach(self, comm, enabled=lambda: True, unpack=True):
        """Reduce (average) each bucket during backward: it leaves, without waiting, as soon as
        all its parameters' gradients have been accumulated, and travels while backward goes
        on. Buckets still waiting when backward ends (parameters that got no gradient on this
        rank) leave then. With `unpack`, the end of backward also waits for every bucket and
        averages the gradients into `.grad`; without, `finish` does (with a scale, a finite
        check). `enabled()` False skips a backward (no_sync). Returns the hook handles.

        The order of collectives is the same on every rank: buckets always leave in their
        fixed order (a full bucket waits for the ones before it), whatever order this rank's
        gradients came in."""
        index = {id(p): i for i, b in enumerate(self.buckets) for p in b.params}

        def send(everything):
            left = self._left
            while self._next < len(self.buckets) and (everything or left[self._next] == 0):
                self._in_flight.append(self._send(self.buckets[self._next], comm))
                self._next += 1

        def flush():
            send(everything=True)
            if unpack:
                self.finish(comm)

        def ready(p):
            if not enabled():
                return
            if self._left is None:  # the first gradient of this backward
                self._left, self._next = [len(b.params) for b in self.buckets], 0
                engine.queue_callback(flush)
            self._left[index[id(p)]] -= 1
            send(everything=False)
            self._progress()

        self._left, self._in_flight = None, []
        return [p.register_post_accumulate_grad_hook(ready) for p in self.params]

    def finish(self, comm, average=True, scale=1.0, check_finite=False):
        """Wait for the buckets in flight and copy the gradients out as `reduce` does (same
        arguments, same return). When this rank's backward gave no parameter a gradient (the
        hooks never ran) every bucket is sent now, so that the ranks still match."""
        if self._left is None and not self._in_flight:
            self._in_flight = [self._send(b, comm) for b in self.buckets]
        for req in self._in_flight:
            req.wait()
        self._left, self._in_flight = None, []
        return self._unpack(self.buckets, scale / comm.size if average else scale,
                            check_finite)

    def reset(self):
        """Forget a backward that failed half-way. Buckets it had sent are waited for first:
        their buffers cannot be reused while a collective works on them, and the other ranks
        sent them too."""
        for req in self._in_flight:
            req.wait()
        self._left, self._in_flight = None, []

    def _progress(self):
        """Let the oldest unfinished bucket progress: MPICH moves a nonblocking collective's
        data only inside MPI calls (one test drives them all)."""
        for req in self._in_flight:
            if not req.test():
                return

    def _send(self, b, comm):
        """Pack the bucket's gradients (and a had-a-gradient flag per parameter) into its buffer
        and start summing it over ranks; returns the `Request`."""
        xp = backend.module_for(b.device)
        if b.buffer is None:
            with _on(b.device, xp):
                b.buffer = xp.empty(b.numel + len(b.params), b.dtype)
        buf = b.buffer
        flags = buf[b.numel:]
        b.complete = all(p.grad is not None for p in b.params)
        for i, (p, off) in enumerate(zip(b.params, b.offsets)):
            n = p.numel()
            if p.grad is None:
                buf[off:off + n] = 0
                flags[i] = 0
            else:
                buf[off:off + n] = p.grad.data.reshape(-1)
                flags[i] = 1
        return comm.iallreduce(buf, "sum")

    def _unpack(self, buckets, factor, check_finite=False):
        """Copy the summed gradients out, times `factor`. The had-a-gradient flags are only
        needed for buckets where this rank lacked a gradient (a flag summed with ours is never
        0); those flags and the finite check come to the host in one copy: at most one wait on
        the GPU per step, none in the common case. The check reads the summed buffers, which
        the collective made identical on every rank: every rank gets the same answer."""
        wanted = [b.buffer[b.numel:] for b in buckets if not b.complete]
        n_flags = len(wanted)
        if check_finite:
            wanted += _non_finite(buckets)
        host = _to_host(wanted)
        finite = not any(bad[0] for bad in host[n_flags:]) if check_finite else None
        flags_of = iter(host[:n_flags])
        for b in buckets:
            flags = None if b.complete else next(flags_of)
            xp = backend.module_for(b.device)
            buf = b.buffer
            factor_ = buf.dtype.type(factor)
            for i, (p, off) in enumerate(zip(b.params, b.offsets)):
                if flags is not None and flags[i] == 0:
                    continue
                g = buf[off:off + p.numel()].reshape(p.shape)
                if p.grad is None or p.grad.data.dtype != b.dtype \
                        or not p.grad.data.flags.c_contiguous:
                    with _on(b.device, xp):
                        p.grad = Tensor._wrap(xp.empty(p.shape, b.dtype))
                with _on(b.device, xp):
                    xp.multiply(g, factor_, out=p.grad.data)  # scale while copying out
        return finite


def _non_finite(buckets):
    """Per device, a 1-element bool array on it: True when any summed gradient there holds inf
    or NaN. Nothing leaves the GPU."""
    by_device = {}
    for b in buckets:
        by_device.setdefault(b.device, []).append(b)
    out = []
    for dev, group in by_device.items():
        xp = backend.module_for(dev)
        with _on(dev, xp):
            ok = xp.stack([xp.isfinite(b.buffer[:b.numel]).all() for b in group]).all()
            out.append(xp.logical_not(ok).reshape(1))
    return out


def _to_host(arrays):
    """NumPy copies of `arrays`: GPU ones in a single transfer per device."""
    out = list(arrays)
    by_device = {}
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            by_device.setdefault(a.device.id, []).append(i)
    for idx in by_device.values():
        xp = backend.array_module(arrays[idx[0]])
        with xp.cuda.Device(arrays[idx[0]].device.id):
            flat = xp.concatenate([arrays[i].reshape(-1).astype(np.float64) for i in idx])
        host, k = backend.to_device(flat, "cpu"), 0
        for i in idx:
            out[i] = host[k:k + arrays[i].size]
            k += arrays[i].size
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


def describe_model(module):
    """(kind, name, shape, dtype) of every parameter and buffer, in registration order."""
    out = [("parameter", n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
    out += [("buffer", n, tuple(b.shape), str(b.dtype)) for n, b in module.named_buffers()]
    return out


def check_same_model(comm, module, who):
    """Raise on every rank, naming the first difference, unless all ranks hold a model with the
    same parameter and buffer names, shapes and dtypes (one small gather, as torch's DDP does).
    Equal sizes with different shapes would otherwise train silently on mixed-up gradients."""
    if comm.size == 1:
        return
    mine = describe_model(module)
    models = comm.allgather_object(mine)
    ref = models[0]
    for rank, other in enumerate(models[1:], start=1):
        for i in range(max(len(ref), len(other))):
            a = ref[i] if i < len(ref) else None
            b = other[i] if i < len(other) else None
            if a != b:
                raise ValueError(
                    f"{who}: the model differs between ranks: {_entry(a, i)} on rank 0 but "
                    f"{_entry(b, i)} on rank {rank} ({len(ref)} vs {len(other)} parameters and "
                    "buffers); every rank must build the same model")


def _entry(e, i):
    if e is None:
        return f"nothing at position {i}"
    kind, name, shape, dtype = e
    return f"{kind} {name!r} of shape {list(shape)} and dtype {dtype}"
