"""`mytorch.backends.cudnn`: cuDNN switches, kept for code that sets and reads them.

mytorch's CUDA convolutions are its own GEMMs, not cuDNN: they are deterministic whatever
`deterministic` says, there is no algorithm search for `benchmark` to enable, and their
float32 precision follows `mytorch.backends.cuda.matmul.allow_tf32` (CuPy has one compute
type for every float32 GEMM), so `allow_tf32` here is recorded but has no separate effect.
"""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True  # torch's default for cuDNN convolutions
benchmark_limit = 10


def is_available():
    """False: mytorch does not use cuDNN."""
    return False


def version():
    return None
