# glue: the document's text is kept verbatim, so it is not linted
# ruff: noqa
# DESIGN.md, "MyTorch Basic Usage". On a machine without a GPU the test runs this file with
# `import cupy as cp` replaced by `import numpy as cp` (see _run.py).
# cp.array([1,2,3]) is int64 and, as in PyTorch, an integer tensor cannot require gradients:
# this line raises RuntimeError in mytorch exactly as torch.tensor([1, 2, 3], requires_grad=True)
# does. The test checks that; float data works.
import cupy as cp
import mytorch

tensor = mytorch.Tensor(cp.array([1,2,3]), requires_grad=True)
