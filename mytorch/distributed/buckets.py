"""Fused gradient buckets: gradients are packed into a few flat buffers of about `bucket_mb`
megabytes and each buffer is reduced with one collective, instead of one call per parameter.
The collectives are nonblocking: attached to backward, a bucket leaves as soon as its last
gradient is ready and travels while backward computes the rest (issue #14).

A tied embedding (GPT-2's wte, which is also the output head) is most of a language model's
gradient, and backward completes it last: the head's dense (V, D) part comes first, the
embedding's few rows (a RowGrad) at the very end. Such a weight is reduced in two parts: the
head's part leaves in a bucket of its own the moment backward delivers it and travels during
all the rest of backward; the rows that come later are exchanged at the end (one small
allgather) and added into the summed buffer.

With `gradient_as_bucket_view` (torch's DDP option) every `.grad` is a view of its part of a
bucket: backward adds into the bucket itself where `.grad` was already there, the summed
bucket is averaged in place, and nothing is copied back out into `.grad`. A gradient that
backward hands over as a new array (after `zero_grad(set_to_none=True)`) is still copied into
the bucket once; `.grad` then points at the bucket again, the same Tensor object every step.
"""
import math

import numpy as np

from mytorch import backend
from mytorch.autograd import engine
from mytorch.autograd.row_grad import RowGrad
from mytorch.tensor import Tensor


class _Bucket:
    __slots__ = ("buffer", "complete", "device", "dtype", "numel", "offsets", "params", "views")

    def __init__(self, dtype, device):
        self.params, self.offsets, self.numel = [], [], 0
        self.buffer, self.dtype, self.device = None, dtype, device
        self.complete = False  # every parameter had a gradient on this rank when it was sent
        self.views = None  # gradient_as_bucket_view: per parameter, (its .grad, that Tensor's
        #                    array: a view of its part of the buffer)

    def add(self, p):
        self.params.append(p)
        self.offsets.append(self.numel)
        self.numel += p.numel()

    def slot(self, i):
        """Parameter i's part of the buffer (flat), allocated on first use."""
        if self.buffer is None:
            xp = backend.module_for(self.device)
            with _on(self.device, xp):
                self.buffer = xp.empty(self.numel + len(self.params), self.dtype)
        off = self.offsets[i]
        return self.buffer[off:off + self.params[i].numel()]

    def is_view(self, i, grad):
        """True when `grad` (a .grad Tensor or None) is parameter i's part of the buffer."""
        return grad is not None and self.views is not None and \
            self.views[i] is not None and grad.data is self.views[i][1]

    def view(self, i):
        """Parameter i's gradient as a Tensor on its part of the buffer (its shape, no copy).
        Made once: `.grad` is the same object step after step, as in torch."""
        if self.views is None:
            self.views = [None] * len(self.params)
        if self.views[i] is None:
            arr = self.slot(i).reshape(self.params[i].shape)
            self.views[i] = (Tensor._wrap(arr), arr)
        t, arr = self.views[i]
        if t.data is not arr:  # a user pointed that Tensor elsewhere: a new one
            t = Tensor._wrap(arr)
            self.views[i] = (t, arr)
        return t


class GradBuckets:
    """Parameters grouped by (device, dtype) into buckets of at most `bucket_mb` megabytes (a
    parameter larger than that gets a bucket of its own), in the order backward finishes their
    gradients: `split` parameters first (a bucket each), then the others in reverse
    registration order, then the `last` ones.

    split: CPU parameters whose gradient is reduced in two parts while attached (see the
    module's docstring): tied embedding weights. last: parameters whose gradient is ready only
    at the end of backward (the other embeddings); at the back, they hold no big bucket back.
    `embedding_roles(module)` finds both in a model. A split parameter on a GPU is a last one.

    >>> buckets = GradBuckets(model.parameters(), bucket_mb=25, **embedding_roles(model))
    >>> loss.backward(); buckets.reduce(comm)   # every .grad now holds the mean over ranks
    >>> buckets.attach(comm)                    # or: buckets leave during every backward
    >>> loss.backward()                         # ... and .grad holds the mean when it returns

    gradient_as_bucket_view: every reduced `.grad` is a view of its bucket (see the module's
    docstring); a `.grad` that exists already is moved into its bucket now, as torch does.
    """

    def __init__(self, params, bucket_mb=25.0, split=(), last=(), gradient_as_bucket_view=False):
        if bucket_mb <= 0:
            raise ValueError(f"GradBuckets: bucket_mb must be positive, got {bucket_mb}")
        self.bucket_bytes = int(bucket_mb * 2 ** 20)
        seen, ordered = set(), []
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                ordered.append(p)
        split_ids = {id(p) for p in split
                     if id(p) in seen and p.device.type == "cpu" and p.dim() >= 1}
        last_ids = {id(p) for p in list(split) + list(last) if id(p) in seen} - split_ids
        self.split = [p for p in ordered if id(p) in split_ids]
        self.buckets, self._bucket_of = [], {}  # _bucket_of: a split parameter's bucket
        for p in self.split:
            b = self._bucket_of[id(p)] = _Bucket(p.dtype, p.device)
            b.add(p)
            self.buckets.append(b)
        # Reverse registration order: the order in which backward finishes the gradients.
        self._fill([p for p in reversed(ordered) if id(p) not in split_ids | last_ids])
        self._fill([p for p in reversed(ordered) if id(p) in last_ids])
        self._left = None      # while a backward sends: gradients each bucket still waits for
        self._next = 0         # the next bucket to leave
        self._in_flight = []   # Requests of the buckets sent and not yet waited for
        self._later = {}       # id of a split parameter whose first part is packed -> the
        #                        gradients delivered to it since (exchanged at the end)
        self._seen = set()     # ids of the split parameters that got a gradient this backward
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        if self.gradient_as_bucket_view:
            for b in self.buckets:
                for i, p in enumerate(b.params):
                    if p.grad is not None:
                        self._point_into(b, i, p)

    def _fill(self, params):
        open_buckets = {}
        for p in params:
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
        `grad=None`. Gradients end up in the parameter's dtype (with gradient_as_bucket_view,
        as views of the buckets). Returns whether all gradients
        are finite when `check_finite` (then the same answer on every rank), else None.

        Host syncs on a GPU: none when every parameter had a gradient on this rank and
        `check_finite` is False; otherwise one (per device), however many buckets. Every
        bucket is started before the first is waited for. Every rank must call `reduce` (not
        `finish`) for the same step: only `finish` exchanges the split parameters' rows."""
        self.reset()
        self._in_flight = [self._send(b, comm) for b in self.buckets]
        for req in self._in_flight:
            req.wait()
        self._in_flight = []
        return self._unpack(self.buckets, _unpack_factor(comm, average, scale), check_finite)

    # ---- during backward: a bucket leaves as soon as its last gradient is ready ----

    def attach(self, comm, enabled=lambda: True, unpack=True):
        """Reduce (average) each bucket during backward: it leaves, without waiting, as soon as
        all its parameters' gradients have been accumulated, and travels while backward goes
        on. A split parameter counts as ready once its first gradient, a dense one, has been
        delivered (the rest of its gradient is exchanged at the end). Buckets still waiting
        when backward ends (parameters that got no gradient on this rank) leave then. With
        `unpack`, the end of backward also waits for every bucket and averages the gradients
        into `.grad`; without, `finish` does (with a scale, a finite check). `enabled()` False
        skips a backward (no_sync). Returns the hook handles.

        With gradient_as_bucket_view the parts of a split parameter's gradient that the bucket
        took (the first part, the later rows) are taken from the engine too: .grad is that
        bucket, in flight, and must not get them added. Without, .grad gets the local sum,
        which the end of backward overwrites.

        The order of collectives is the same on every rank: buckets always leave in their
        fixed order (a full bucket waits for the ones before it), whatever order this rank's
        gradients came in, then `finish` exchanges every split parameter's rows, in order."""
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

        def start():
            if self._left is None:  # the first gradient of this backward
                self._left, self._next = [len(b.params) for b in self.buckets], 0
                self._later, self._seen = {}, set()
                engine.queue_callback(flush)

        def count(p):
            self._left[index[id(p)]] -= 1
            send(everything=False)
            self._progress()

        def ready(p):
            if not enabled():
                return
            start()
            if id(p) in self._later:  # counted when its first part was packed
                self._progress()
            else:
                count(p)

        def on_delivery(p):
            key, node = id(p), p._edge()[0]

            def delivered(g):
                if not enabled():
                    return False
                start()
                later = self._later.get(key)
                if later is not None:  # after the first part: exchanged at the end
                    later.append(g if type(g) is RowGrad else g.copy())
                    return self.gradient_as_bucket_view  # taken: see the docstring
                if key not in self._seen:
                    self._seen.add(key)
                    # The first gradient of this backward goes now if it is a dense array
                    # (the head's), with the .grad accumulated before it; not if it is a
                    # RowGrad, nor when a tensor hook may change the sum: then the whole
                    # gradient goes once accumulated.
                    if type(g) is np.ndarray and not node._hooks.get(0):
                        self._pack_first(p, g, comm.size)
                        self._later[key] = []
                        count(p)
                        return self.gradient_as_bucket_view
                return False
            return delivered

        self._left, self._in_flight, self._later = None, [], {}
        hooks = [p.register_post_accumulate_grad_hook(ready) for p in self.params]
        return hooks + [engine.register_delivery_hook(p, on_delivery(p)) for p in self.split]

    def finish(self, comm, average=True, scale=1.0, check_finite=False):
        """Wait for the buckets in flight, add every rank's later rows of the split parameters
        into their summed buffers, and copy the gradients out (or, with gradient_as_bucket_view,
        scale them in place) as `reduce` does (same arguments, same return). When this rank's
        backward gave no parameter a gradient (the hooks never ran) every bucket is sent now,
        so that the ranks still match.

        A split parameter's mean is (sum over ranks of the first parts + each rank's later
        rows, in rank order) / ranks: the same value on every rank, rounded differently from a
        sum of whole gradients (as a different bucket order would be)."""
        if self._left is None and not self._in_flight:
            self._in_flight = [self._send(b, comm) for b in self.buckets]
        for req in self._in_flight:
            req.wait()
        later = self._later
        self._left, self._in_flight, self._later = None, [], {}
        self._add_later_rows(comm, later)
        return self._unpack(self.buckets, _unpack_factor(comm, average, scale), check_finite)

    def reset(self):
        """Forget a backward that failed half-way. Buckets it had sent are waited for first:
        their buffers cannot be reused while a collective works on them, and the other ranks
        sent them too."""
        for req in self._in_flight:
            req.wait()
        self._left, self._in_flight, self._later = None, [], {}

    def _progress(self):
        """Let the oldest unfinished bucket progress: MPICH moves a nonblocking collective's
        data only inside MPI calls (one test drives them all)."""
        for req in self._in_flight:
            if not req.test():
                return

    def _pack_first(self, p, g, world):
        """Pack a split parameter's first gradient `g` (plus the .grad accumulated before this
        backward), divided as `_send` divides, into its bucket now: the engine may add later
        gradients into g in place. A .grad that is the bucket's view is added into in place."""
        slot = self._bucket_of[id(p)].slot(0)
        f = _pre_factor(world, slot.dtype)
        if p.grad is None:
            np.multiply(g.reshape(-1), f, out=slot)
        else:
            np.add(p.grad.data.reshape(-1), g.reshape(-1), out=slot)
            if f != 1:
                slot *= f

    def _point_into(self, b, i, p):
        """Make p.grad (not None) the view of its part of bucket b, copying it in unless it is
        there already."""
        if not b.is_view(i, p.grad):
            with _on(b.device, backend.module_for(b.device)):
                b.slot(i)[...] = p.grad.data.reshape(-1)
        p.grad = b.view(i)

    def _add_later_rows(self, comm, later):
        """Exchange the gradients each split parameter got after its first part (usually an
        embedding's few rows) and add every rank's, in rank order, into its summed buffer: one
        allgather per split parameter, on every rank (an empty one where there are none)."""
        for p in self.split:
            b = self._bucket_of[id(p)]
            n_rows = p.shape[0]
            width = p.numel() // n_rows if n_rows else 0
            idx, rows = _later_rows(later.get(id(p), ()), tuple(p.shape), b.dtype)
            summed = b.slot(0).reshape(n_rows, width)
            f = _pre_factor(comm.size, b.dtype)
            for packed in comm.allgather(_pack_rows(idx, rows)):
                idx_r, rows_r = _unpack_rows(packed, width, b.dtype)
                if idx_r.size:
                    if f != 1:
                        rows_r *= f
                    summed[idx_r] += rows_r  # unique row numbers: one add per row

    def _send(self, b, comm):
        """Pack the bucket's gradients (and a had-a-gradient flag per parameter) into its buffer
        and start summing it over ranks; returns the `Request`. A split parameter whose first
        part is packed already is left as it is."""
        b.slot(0)  # allocates the buffer
        buf = b.buffer
        flags = buf[b.numel:]
        b.complete = True
        xp = backend.module_for(b.device)
        f = _pre_factor(comm.size, b.dtype)
        for i, (p, off) in enumerate(zip(b.params, b.offsets)):
            n = p.numel()
            part = buf[off:off + n]
            if id(p) in self._later:
                flags[i] = 1
            elif p.grad is None:
                part[...] = 0
                flags[i] = 0
                b.complete = False
            elif self.gradient_as_bucket_view and b.is_view(i, p.grad):
                if f != 1:  # backward added into the bucket already: divide in place
                    part *= f
                flags[i] = 1
            else:
                if f != 1:
                    with _on(b.device, xp):
                        xp.multiply(p.grad.data.reshape(-1), f, out=part)  # divide while packing
                else:
                    part[...] = p.grad.data.reshape(-1)
                if self.gradient_as_bucket_view:
                    p.grad = b.view(i)
                flags[i] = 1
        return comm.iallreduce(buf, "sum")

    def _unpack(self, buckets, factor, check_finite=False):
        """Copy the summed gradients out, times `factor` (with gradient_as_bucket_view: multiply
        each bucket in place, one call, and point `.grad` at it). The had-a-gradient flags are
        only needed for buckets where this rank lacked a gradient (a flag summed with ours is
        never 0); those flags and the finite check come to the host in one copy: at most one wait on
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
            if self.gradient_as_bucket_view:  # the bucket is the gradient: scale it in place
                if factor != 1:
                    with _on(b.device, xp):
                        xp.multiply(buf[:b.numel], factor_, out=buf[:b.numel])
                for i, p in enumerate(b.params):
                    if flags is None or flags[i] != 0:
                        p.grad = b.view(i)
                continue
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


def _pre_factor(world, dtype):
    """What packing multiplies each gradient by: 1/world when that is exact (a power of two:
    sum(g / w) then rounds as sum(g) / w, so the averages are the same floats), as torch's DDP
    divides before its allreduce; else 1 (the mean is taken after the sum). Dividing while
    packing saves the pass over every bucket after backward (2 ms of the tiny GPT-2's 29 MB
    here)."""
    exact = world > 1 and world & (world - 1) == 0
    return np.dtype(dtype).type(1.0 / world if exact else 1.0)


def _unpack_factor(comm, average, scale):
    """The factor _unpack applies after the sum, given what packing divided by."""
    pre = float(_pre_factor(comm.size, np.float64))
    return (scale / comm.size if average else scale) / pre


def _later_rows(later, shape, dtype):
    """(row numbers int64 (k,), rows (k, width)) of the sum of the gradients in `later`: the
    rows of RowGrads (merged), or every row when one of them is dense (rare: an embedding
    whose lookups touch most of its table sends a dense gradient)."""
    n_rows = shape[0]
    width = math.prod(shape[1:])
    if not later:
        return np.empty(0, np.int64), np.empty((0, width), dtype)
    if all(type(g) is RowGrad for g in later):
        total = later[0]
        for g in later[1:]:
            total = total.merge(g)
        return total.idx.astype(np.int64), total.rows.reshape(-1, width).astype(dtype)
    dense = np.zeros(shape, dtype)
    for g in later:
        if type(g) is RowGrad:
            g.add_into(dense)
        else:
            dense += g
    return np.arange(n_rows, dtype=np.int64), dense.reshape(n_rows, width)


def _pack_rows(idx, rows):
    """Row numbers and rows in one byte array, so that one allgather moves both."""
    out = np.empty(idx.size * 8 + rows.nbytes, np.uint8)
    out[:idx.size * 8] = idx.view(np.uint8)
    out[idx.size * 8:] = np.ascontiguousarray(rows).reshape(-1).view(np.uint8)
    return out


def _unpack_rows(packed, width, dtype):
    """`_pack_rows`'s arrays back (copies: the bytes may sit at any offset)."""
    k = packed.size // (8 + width * dtype.itemsize)
    idx = packed[:8 * k].copy().view(np.int64)
    return idx, packed[8 * k:].copy().view(dtype).reshape(k, width)


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


def embedding_roles(module):
    """GradBuckets' `split` and `last` for a model: the weight of an `nn.Embedding` that is also
    registered elsewhere (tied to an output head, as GPT-2's wte) is split; the other
    embeddings' weights, ready only when backward ends, are last.

    >>> GradBuckets(model.parameters(), **embedding_roles(model))"""
    from mytorch.nn.modules.sparse import Embedding
    uses = {}
    for _, p in module.named_parameters(remove_duplicate=False):
        uses[id(p)] = uses.get(id(p), 0) + 1
    split, last = [], []
    for m in module.modules():
        w = getattr(m, "weight", None)
        if isinstance(m, Embedding) and w is not None and w.requires_grad:
            (split if uses.get(id(w), 0) > 1 else last).append(w)
    return {"split": split, "last": last}


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
