"""Tensor reductions: sum, mean, var/std, max/min, argmax, prod, logsumexp, norm, the
cumulative ops, median/kthvalue/mode, sort and topk. Each method is the public function of
`mytorch.ops.reduce` that checks its arguments (assigned, so a call costs no extra frame)."""
from mytorch.ops import reduce as R


class TensorReduction:
    __slots__ = ()

    sum = R.sum
    mean = R.mean
    var = R.var
    std = R.std
    max = R.max
    min = R.min
    amax = R.amax
    amin = R.amin
    argmax = R.argmax
    argmin = R.argmin
    prod = R.prod
    logsumexp = R.logsumexp
    norm = R.norm
    cumsum = R.cumsum
    cumprod = R.cumprod
    cummax = R.cummax
    cummin = R.cummin
    median = R.median
    kthvalue = R.kthvalue
    mode = R.mode
    count_nonzero = R.count_nonzero
    nansum = R.nansum
    nanmean = R.nanmean
    sort = R.sort
    argsort = R.argsort
    topk = R.topk
