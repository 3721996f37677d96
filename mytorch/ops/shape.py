"""Shape primitives: reshape, permute, expand, cat, stack, split, repeat, contiguous, roll,
diagonal, diag_embed.

The public functions at the bottom (roll, diag, movedim, meshgrid, ...) take and return
Tensors; `Tensor` methods and `mytorch.*` call them. Most are composites of Tensor ops.
"""
import numpy as np

from mytorch import dtypes
from mytorch.amp import autocast_mode as _amp
from mytorch.autograd import function as _fn
from mytorch.autograd.function import Function, NonDifferentiable
from mytorch.backend import array_module
from mytorch.ops.index import IndexSelect
from mytorch.ops.reduce import normalize_dims
from mytorch.promotion import shape_args


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return gy.transpose(inv)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return gy  # the engine sums it back to the input's shape


class Contiguous(Function):
    @staticmethod
    def forward(ctx, x):
        return array_module(x).ascontiguousarray(x)

    @staticmethod
    def backward(ctx, gy):
        return gy


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return array_module(xs[0]).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        out, start = [], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad):
            if need:
                sl = [slice(None)] * gy.ndim
                sl[ctx.dim] = slice(start, start + size)
                out.append(gy[tuple(sl)])
            else:
                out.append(None)
            start += size
        return tuple(out)


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return array_module(xs[0]).stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        xp = array_module(gy)
        return tuple(xp.take(gy, i, axis=ctx.dim) if need else None
                     for i, need in enumerate(ctx.needs_input_grad))


class Split(Function):
    """Split along `dim` into pieces of the given sizes; returns one view per piece."""

    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.dim, ctx.shape = dim, x.shape
        out, start = [], 0
        for s in sizes:
            sl = [slice(None)] * x.ndim
            sl[dim] = slice(start, start + s)
            out.append(x[tuple(sl)])
            start += s
        return tuple(out)

    @staticmethod
    def backward(ctx, *gys):
        return array_module(gys[0]).concatenate(gys, axis=ctx.dim)


class Repeat(Function):
    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, reps):
        xp = array_module(x)
        lead = len(reps) - x.ndim
        ctx.reps, ctx.in_shape = reps, (1,) * lead + x.shape
        return xp.tile(x.reshape(ctx.in_shape), reps)

    @staticmethod
    def backward(ctx, gy):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...) and sum over the r axes.
        inter = []
        for r, s in zip(ctx.reps, ctx.in_shape):
            inter += [r, s]
        g = gy.reshape(inter).sum(axis=tuple(range(0, len(inter), 2)))
        return g


class Flip(Function):
    """Reverse the order of elements along axes (a copy, as PyTorch's flip)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return array_module(x).flip(x, axes).copy()

    @staticmethod
    def backward(ctx, gy):
        return array_module(gy).flip(gy, ctx.axes)


class Roll(Function):
    """Shift elements along dims (wrapping around); dims None rolls the flattened array."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return array_module(x).roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, gy):
        back = -ctx.shifts if ctx.dims is None else tuple(-s for s in ctx.shifts)
        return array_module(gy).roll(gy, back, ctx.dims)


def embed_diagonal(v, offset, n1, n2):
    """(..., L) -> (..., n1, n2) zeros with v on the `offset` diagonal of the last two dims."""
    xp = array_module(v)
    out = xp.zeros(v.shape[:-1] + (n1, n2), v.dtype)
    i = xp.arange(v.shape[-1])
    out[..., i + max(-offset, 0), i + max(offset, 0)] = v
    return out


class Diagonal(Function):
    """The `offset` diagonal of the (dim1, dim2) planes, as a new last dim (a view)."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.shape, ctx.offset, ctx.dims = x.shape, offset, (dim1, dim2)
        y = array_module(x).diagonal(x, offset, dim1, dim2)
        if not getattr(y.flags, "writeable", True) and x.flags.writeable:
            y.flags.writeable = True  # NumPy's view is read-only; PyTorch's writes through
        return y

    @staticmethod
    def backward(ctx, gy):
        (d1, d2), n1, n2 = ctx.dims, ctx.shape[ctx.dims[0]], ctx.shape[ctx.dims[1]]
        g = embed_diagonal(gy, ctx.offset, n1, n2)
        return array_module(gy).moveaxis(g, (-2, -1), (d1, d2))


class DiagEmbed(Function):
    """Last dim -> the `offset` diagonal of new dims (dim1, dim2) of the output."""

    linear_in = 0  # create_graph: its backward is linear, its adjoint this forward

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.offset, ctx.dims = offset, (dim1, dim2)
        n = x.shape[-1] + abs(offset)
        return array_module(x).moveaxis(embed_diagonal(x, offset, n, n), (-2, -1), (dim1, dim2))

    @staticmethod
    def backward(ctx, gy):
        return array_module(gy).diagonal(gy, ctx.offset, *ctx.dims)


class ViewDtype(NonDifferentiable):
    """The same bytes read as another dtype (no gradient, as in PyTorch)."""

    @staticmethod
    def forward(x, dtype):
        return x.view(dtype)


# ---- public functions: Tensors in, Tensors out ----
# The Tensor methods of the same names are these functions (`reshape = S.reshape` in the
# class body), so a method call costs no extra frame: these are hot in every model.

def reshape(input, *shape):
    """input with a new shape of as many elements (a view when the strides allow it)."""
    shape = shape_args(shape)
    try:
        return Reshape.apply(input, shape) if shape != input.shape else alias(input)
    except ValueError as err:
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of shape "
                           f"{tuple(input.shape)} ({input.numel()} elements)") from err


def view(input, *shape):
    """Like reshape, but never copies: raises when the strides don't allow a view. With a
    dtype, the same bytes read as that dtype."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return _view_dtype(input, dtypes.as_dtype(shape[0]))
    if isinstance(input.data, np.ndarray) and not input.data.flags.c_contiguous:
        try:
            input.data.reshape(shape_args(shape), copy=False)
        except ValueError:
            raise RuntimeError(f"view: shape {list(shape_args(shape))} is not compatible "
                               f"with the strides of the non-contiguous input of shape "
                               f"{tuple(input.shape)}; use .reshape(...)") from None
    return reshape(input, *shape)


def _view_dtype(x, dtype):
    """With a different element size the last dim must be contiguous and is rescaled."""
    old, new = x.dtype.itemsize, dtype.itemsize
    what = f"view: cannot view {x.dtype} as {dtype} (different element sizes)"
    if old != new:
        if x.ndim == 0:
            raise RuntimeError(f"{what}: the tensor must have at least 1 dim")
        if x.data.strides[-1] != old and x.shape[-1] != 1:
            raise RuntimeError(f"{what}: the last dim must be contiguous, got strides "
                               f"{x.stride()}")
        if (x.shape[-1] * old) % new:
            raise RuntimeError(f"{what}: the last dim ({x.shape[-1]}) times {old} bytes "
                               f"must be divisible by {new}")
    return ViewDtype.apply(x, dtype)


def view_as(input, other):
    """input reshaped to other's shape."""
    return reshape(input, other.shape)


def alias(input):
    """A new Tensor viewing input's array, linked to it in the graph."""
    return Reshape.apply(input, input.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """input with dims start_dim..end_dim merged into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = normalize_dims((start_dim,), input.shape, "flatten")[0], \
        normalize_dims((end_dim,), input.shape, "flatten")[0]
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shp = input.shape
    return reshape(input, shp[:s] + (int(np.prod(shp[s:e + 1])),) + shp[e + 1:])


def unflatten(input, dim, sizes):
    """input with dim split into `sizes` (one of them may be -1)."""
    d = normalize_dims(dim, input.shape, "unflatten")[0]
    sizes = tuple(sizes)
    if -1 in sizes:
        known = int(np.prod([s for s in sizes if s != -1]))
        sizes = tuple(input.shape[d] // known if s == -1 else s for s in sizes)
    if int(np.prod(sizes)) != input.shape[d]:
        raise RuntimeError(f"unflatten: sizes {list(sizes)} don't multiply up to the size of "
                           f"dim {dim} ({input.shape[d]}) of shape {tuple(input.shape)}")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


def squeeze(input, dim=None):
    """input without its size-1 dims (all, or those among `dim`)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        axes = normalize_dims(dim, input.shape, "squeeze")
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in axes and s == 1))
    return reshape(input, shape)


def unsqueeze(input, dim):
    """input with a size-1 dim inserted at `dim`."""
    if not -input.ndim - 1 <= dim <= input.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape "
                         f"{tuple(input.shape)} (expected a dim in [{-input.ndim - 1}, "
                         f"{input.ndim}])")
    d = normalize_dims(dim, input.ndim + 1, "unsqueeze")[0]
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def expand(input, *sizes):
    """input broadcast to `sizes` without copying (-1 keeps a dim's size)."""
    sizes = shape_args(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                           f"number of dims ({input.ndim}) of shape {tuple(input.shape)}")
    shape = tuple(input.shape[i - lead] if (s == -1 and i >= lead) else s
                  for i, s in enumerate(sizes))
    for i in range(input.ndim):
        if input.shape[i] != 1 and input.shape[i] != shape[lead + i]:
            raise RuntimeError(f"expand: the expanded size {shape[lead + i]} must match the "
                               f"existing size {input.shape[i]} at dim {i} (shape "
                               f"{tuple(input.shape)} -> {list(sizes)})")
    return Expand.apply(input, shape)


def expand_as(input, other):
    """input expanded to other's shape."""
    return expand(input, other.shape)


def repeat(input, *sizes):
    """input tiled `sizes[i]` times along each dim (leading sizes add dims)."""
    sizes = shape_args(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller "
                           f"than the number of tensor dims ({input.ndim})")
    return Repeat.apply(input, sizes)


def transpose(input, dim0, dim1):
    """input with dims dim0 and dim1 exchanged (a view)."""
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return alias(input)
    d0, d1 = (normalize_dims(d, input.shape, "transpose")[0] for d in (dim0, dim1))
    dims = list(range(input.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, tuple(dims))


def permute(input, *dims):
    """input with its dims reordered (a view): out.shape[i] = input.shape[dims[i]]."""
    dims = shape_args(dims)
    norm = tuple(normalize_dims(d, input.shape, "permute")[0] for d in dims)
    if sorted(norm) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the "
                           f"{input.ndim} dims of shape {tuple(input.shape)}")
    return Permute.apply(input, norm)


def t(input):
    """The transpose of a matrix; a 0-d or 1-d input unchanged."""
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, got shape {tuple(input.shape)}")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def contiguous(input):
    """input itself when its array is C-contiguous, else a contiguous copy."""
    if input.data.flags.c_contiguous:
        return input
    return Contiguous.apply(input)


def narrow(input, dim, start, length):
    """The `length` elements of dim from `start` on (a view)."""
    d = normalize_dims(dim, input.shape, "narrow")[0]
    if start < 0:
        start += input.shape[d]
    if not 0 <= start <= start + length <= input.shape[d]:
        raise IndexError(f"narrow: start {start} + length {length} out of range for dim {dim} "
                         f"of size {input.shape[d]}")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def flip(input, *dims):
    """input reversed along `dims` (a copy, as in PyTorch)."""
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    axes = normalize_dims(tuple(dims), input.shape, "flip")
    return Flip.apply(input, axes if input.ndim else ())


def cat(tensors, dim=0):
    """Concatenate along an existing dim; dtypes promote as in PyTorch."""
    tensors = list(_amp.cast("cat", *tensors))
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = normalize_dims(dim, ref.shape, "cat")[0]
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise RuntimeError(f"cat: sizes of tensors must match except in dim {dim}; tensor 0 "
                               f"has shape {tuple(ref.shape)}, tensor {i} has shape "
                               f"{tuple(t.shape)}")
    dt = ref.dtype
    for t in tensors[1:]:
        dt = dtypes.result_type(np.empty((1,), dt), t.data) if t.dtype != dt else dt
    tensors = [t.to(dt) for t in tensors]
    return Cat.apply(*tensors, dim=d)


concatenate = concat = cat


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new dim."""
    tensors = list(_amp.cast("stack", *tensors))
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got "
                               f"{tuple(ref.shape)} at entry 0 and {tuple(t.shape)} at entry {i}")
    d = normalize_dims(dim, ref.ndim + 1, "stack")[0]
    return Stack.apply(*tensors, dim=d)


def split(x, split_size_or_sections, dim=0):
    """Pieces of x along dim: of `split_size` each (the last may be shorter) or of the
    given section sizes."""
    d = normalize_dims(dim, x.shape, "split")[0]
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
        if not sizes:
            sizes = [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} "
                               f"has size {n} (shape {tuple(x.shape)})")
    out = Split.apply(x, tuple(sizes), d)
    return out if isinstance(out, tuple) else (out,)


def chunk(x, chunks, dim=0):
    """`chunks` pieces of x along dim, all but the last of equal size."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = normalize_dims(dim, x.shape, "chunk")[0]
    if x.shape[d] == 0:  # PyTorch gives `chunks` empty pieces
        return Split.apply(x, (0,) * chunks, d) if chunks > 1 else (Reshape.apply(x, x.shape),)
    return split(x, -(-x.shape[d] // chunks), d)


def _dim(dim, shape, op):
    """One dim, made non-negative; shape: the tensor's shape or its number of dims."""
    return normalize_dims(dim, shape if isinstance(shape, int) else tuple(shape), op)[0]


def _ints(x):
    return (x,) if isinstance(x, (int, np.integer)) else tuple(x)


def roll(input, shifts, dims=None):
    """Roll elements along `dims` by `shifts` (ints or equal-length tuples); elements leaving
    one end come back at the other. dims None rolls the flattened tensor, keeping its shape.

    >>> mytorch.roll(mytorch.arange(4), 1)
    tensor([3, 0, 1, 2])
    """
    shifts = _ints(shifts)
    if not shifts:
        raise RuntimeError("roll: shifts required (got an empty tuple)")
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: without dims, shifts must be a single int, got {shifts}")
        return Roll.apply(input, int(shifts[0]), None)
    dims = _ints(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    dims = tuple(_dim(d, input.shape, "roll") for d in dims)
    return Roll.apply(input, tuple(int(s) for s in shifts), dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element `repeats` times (an int, or a 0-d/1-D integer tensor with one count
    per element) along `dim`; dim None flattens first. `repeat_interleave(counts)` alone gives
    the indices 0, 1, ... each repeated counts[i] times.

    >>> mytorch.tensor([1, 2]).repeat_interleave(2)
    tensor([1, 1, 2, 2])
    """
    xp = array_module(input.data)
    if repeats is None:
        counts = input.data
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise RuntimeError(f"repeat_interleave: repeats must be a 1-D integer tensor, got "
                               f"shape {tuple(counts.shape)} and dtype {counts.dtype}")
        return RepeatIndex.apply(input)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _dim(dim, x.shape, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    if x.ndim == 0:
        x = x.reshape(1)
    r = repeats.data if isinstance(repeats, _fn.Tensor) else xp.asarray(repeats)
    if r.dtype.kind not in "iu" or r.ndim > 1 or (r.ndim == 1 and r.shape[0] not in (1, n)):
        raise RuntimeError(f"repeat_interleave: repeats must be an int or a 0-d/1-D integer "
                           f"tensor with 1 or {n} entries (dim {d} of shape {tuple(x.shape)}), "
                           f"got shape {tuple(r.shape)} and dtype {r.dtype}")
    index = _repeat_index(xp, xp.broadcast_to(r.reshape(-1), (n,)))
    if output_size is not None and output_size != index.shape[0]:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"{index.shape[0]} repeated elements")
    return IndexSelect.apply(x, d, index)


class RepeatIndex(NonDifferentiable):
    """0, 1, ... each repeated counts[i] times."""

    @staticmethod
    def forward(counts):
        return _repeat_index(array_module(counts), counts)


def _repeat_index(xp, counts):
    """0, 1, ... each repeated counts[i] times (CuPy's repeat takes no array of counts)."""
    if counts.size and int(counts.min()) < 0:
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if ends.size else 0
    return xp.searchsorted(ends, xp.arange(total), side="right").astype(np.int64)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The `offset` diagonal of each (dim1, dim2) plane, as the last dim of the result.

    (3, 4) -> (3,); (B, n, n) with dim1=1, dim2=2 -> (B, n).
    """
    if input.ndim < 2:
        raise RuntimeError(f"diagonal: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(input.shape)}")
    d1, d2 = _dim(dim1, input.shape, "diagonal"), _dim(dim2, input.shape, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 can not be the same dim ({dim1}, {dim2})")
    return Diagonal.apply(input, int(offset), d1, d2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Put the last dim of input on the `offset` diagonal of dims (dim1, dim2) of a new
    tensor with one more dim: (..., n) -> (..., n + |offset|, n + |offset|)."""
    if input.ndim == 0:
        raise RuntimeError("diag_embed: expected a tensor with at least 1 dim, got a 0-d tensor")
    d1, d2 = (_dim(d, input.ndim + 1, "diag_embed") for d in (dim1, dim2))
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 can not be the same dim ({dim1}, {dim2})")
    return DiagEmbed.apply(input, int(offset), d1, d2)


def diag(input, diagonal=0):
    """1-D (n,) -> a square matrix with input on the `diagonal`-th diagonal; 2-D -> that
    diagonal as a 1-D tensor."""
    if input.ndim == 1:
        return DiagEmbed.apply(input, int(diagonal), 0, 1)
    if input.ndim == 2:
        return Diagonal.apply(input, int(diagonal), 0, 1)
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")


def trace(input):
    """Sum of the main diagonal of a 2-D tensor (integers sum to int64)."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a 2-D tensor, got shape {tuple(input.shape)}")
    return Diagonal.apply(input, 0, 0, 1).sum()


def tile(input, dims):
    """Repeat the whole tensor `dims` times per dim; fewer dims than input.ndim are padded
    with 1s in front (unlike `repeat`)."""
    dims = _ints(dims)
    return input.repeat((1,) * (input.ndim - len(dims)) + dims)


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane of `dims`, from the first dim towards the
    second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected exactly 2 rotation dims, got {dims}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(input.shape)}")
    d0, d1 = (_dim(d, input.shape, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: the rotation dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip(d0, d1)
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


def movedim(input, source, destination):
    """Move dims `source` to positions `destination` (ints or equal-length tuples); the
    other dims keep their order."""
    src, dst = _ints(source), _ints(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source {src} and destination {dst} must have the same "
                           "number of dims")
    shape = tuple(input.shape)
    src = [_dim(d, shape, "movedim") for d in src]
    dst = [_dim(d, shape, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {tuple(src)} or destination "
                           f"{tuple(dst)}")
    if input.ndim == 0:
        return input.permute(())
    order = [d for d in range(input.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return input.permute(order)


moveaxis = movedim


def swapdims(input, dim0, dim1):
    """input with dims dim0 and dim1 exchanged (a view): transpose under numpy's name."""
    return input.transpose(dim0, dim1)


swapaxes = swapdims


def select(input, dim, index):
    """The slice at `index` along `dim`, that dim removed: x.select(1, 2) is x[:, 2]."""
    d = _dim(dim, input.shape, "select")
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select: index {index} is out of range for dim {dim} with size {size} "
                         f"(tensor shape {tuple(input.shape)})")
    return input[(slice(None),) * d + (int(index),)]


def unbind(input, dim=0):
    """The slices along `dim`, as a tuple of tensors without that dim."""
    d = normalize_dims(dim, input.shape, "unbind")[0]
    return tuple(squeeze(p, d) for p in split(input, 1, d))


def broadcast_to(input, shape):
    """input expanded (without copying) to `shape` by the broadcasting rules."""
    return expand(input, tuple(shape))


def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*(_ints(s) for s in shapes)))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {list(shapes)} cannot be broadcast "
                           "together") from None


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views, no copies)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    try:
        shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    except ValueError:
        raise RuntimeError(f"broadcast_tensors: shapes {[tuple(t.shape) for t in tensors]} "
                           "cannot be broadcast together") from None
    return tuple(t.expand(shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors of sizes (n1, n2, ...): each output has shape
    (n1, n2, ...), or with indexing='xy' the first two sizes swapped (n2, n1, ...)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise RuntimeError("meshgrid: expects a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-d or 1-D tensors, got shape "
                               f"{tuple(t.shape)} at position {i}")
        if t.dtype != tensors[0].dtype:
            raise RuntimeError(f"meshgrid: expects all tensors to have the same dtype, got "
                               f"{tensors[0].dtype} and {t.dtype}")
    tensors = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(tensors) > 1
    if swap:
        tensors[0], tensors[1] = tensors[1], tensors[0]
    shape = tuple(t.shape[0] for t in tensors)
    n = len(tensors)
    grids = [t.reshape((1,) * i + (-1,) + (1,) * (n - i - 1)).expand(shape)
             for i, t in enumerate(tensors)]
    if swap:  # the grids of (x2, x1, ...) in 'ij' order are those of (x1, x2, ...) in 'xy'
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def hstack(tensors):
    """Concatenate column-wise: along dim 0 when the (first) tensors are 1-D, else dim 1;
    0-d tensors become 1-D."""
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Concatenate row-wise along dim 0; 0-d and 1-D tensors (n,) become rows (1, n)."""
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


row_stack = vstack
