"""Tensor shape methods: reshape, view, flatten, squeeze, expand, permute, split, flip,
narrow, diagonal, ... Views share the input's array. Each method is the public function of
`mytorch.ops.shape` that checks its arguments (assigned, so a call costs no extra frame)."""
from mytorch.ops import shape as S
from mytorch.promotion import shape_args


class TensorShape:
    __slots__ = ()

    reshape = S.reshape
    view = S.view
    view_as = reshape_as = S.view_as
    _alias = S.alias
    flatten = S.flatten
    unflatten = S.unflatten
    squeeze = S.squeeze
    unsqueeze = S.unsqueeze
    expand = S.expand
    expand_as = S.expand_as
    broadcast_to = S.broadcast_to
    repeat = S.repeat
    transpose = swapaxes = swapdims = S.transpose
    permute = S.permute
    t = S.t
    contiguous = S.contiguous
    unbind = S.unbind
    narrow = S.narrow
    flip = S.flip
    select = S.select
    movedim = moveaxis = S.movedim
    roll = S.roll
    rot90 = S.rot90
    diag = S.diag
    diagonal = S.diagonal
    diag_embed = S.diag_embed
    trace = S.trace

    @property
    def T(self):
        return S.Permute.apply(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return S.transpose(self, -2, -1)

    def clone(self):
        return S.Clone.apply(self)

    def split(self, split_size_or_sections, dim=0):
        return S.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return S.chunk(self, chunks, dim)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return S.repeat_interleave(self, repeats, dim, output_size=output_size)

    def tile(self, *dims):
        return S.tile(self, shape_args(dims))
