"""Stand-in `cupyx.scipy.special`: erf, erfc, erfinv (SciPy is not a dependency, so these
are elementwise Python math: slow, but exact to double precision)."""
import math
import statistics

import numpy as np
from cupy import _core

_NORMAL = statistics.NormalDist()


def _erfinv(y):
    if y <= -1.0 or y >= 1.0:
        return math.copysign(math.inf, y) if abs(y) == 1.0 else math.nan
    return _NORMAL.inv_cdf((y + 1.0) / 2.0) / math.sqrt(2.0)


def _elementwise(name, fn):
    vec = np.vectorize(fn, otypes=[np.float64])

    def f(x, out=None):
        def run(a):
            return vec(a).astype(a.dtype if a.dtype.kind == "f" else np.float64)
        res = _core.call_numpy(run, f"special.{name}", (x,), {})
        if out is not None:
            out[...] = res
            return out
        return res
    f.__name__ = name
    return f


erf = _elementwise("erf", math.erf)
erfc = _elementwise("erfc", math.erfc)
erfinv = _elementwise("erfinv", _erfinv)
