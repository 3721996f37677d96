"""`mytorch.backends.cuda`: matmul precision switches, honoured through CuPy."""
from mytorch import backend


class _MatmulFlags:
    """`allow_tf32`: float32 matmuls may use TF32 tensor cores (torch's default: False).
    The reduced-precision-reduction flags are accepted and kept; CuPy's fp16/bf16 GEMMs
    accumulate in float32 either way."""

    def __init__(self):
        self._allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        return self._allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, flag):
        self._allow_tf32 = bool(flag)
        _apply_tf32(self._allow_tf32)

    def __repr__(self):
        return f"matmul(allow_tf32={self._allow_tf32})"


def _apply_tf32(flag):
    if not backend.cuda_available():
        return
    import numpy as np
    from cupy._core import _routines_linalg as gemm  # where CuPy keeps its GEMM compute types
    kind = gemm.COMPUTE_TYPE_TF32 if flag else gemm.COMPUTE_TYPE_DEFAULT
    gemm.set_compute_type(np.dtype(np.float32), kind)


matmul = _MatmulFlags()


def is_built():
    """True when CuPy (our CUDA backend) is installed, GPU or not."""
    return backend.cupy is not None


def preferred_linalg_library(backend_name=None):
    return "default"
