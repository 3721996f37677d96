"""`mytorch.backends`: PyTorch's backend switches, settable as in torch.

Flags that mean something here are honoured: `cuda.matmul.allow_tf32` sets CuPy's float32
GEMM compute type (TF32 tensor cores on Ampere and newer). The cuDNN flags are kept for code
that sets and reads them (our convolutions are GEMMs, always deterministic, with no algorithm
search to benchmark). There is no MPS, cuDNN or oneDNN backend: their `is_available()` say so.

>>> mytorch.backends.cuda.matmul.allow_tf32 = True
>>> mytorch.backends.cudnn.benchmark = True
"""
from mytorch.backends import cuda, cudnn, mkldnn, mps  # noqa: F401
