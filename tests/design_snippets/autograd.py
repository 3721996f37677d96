# glue: the document's text is kept verbatim, so it is not linted
# ruff: noqa
# DESIGN.md, "MyTorch is a Fully Autograd Based System". On a machine without a GPU the test
# runs this file with `import cupy as cp` replaced by `import numpy as cp` (see _run.py).
# The document's "# Output:" lines are not Python; they are kept as comments here and the test
# checks them.
from mytorch import Tensor
import cupy as cp 

a = Tensor(cp.ones((1,)), requires_grad=True)
b = a + 2
c = b**2

print(c)
# Output:
# [9.], grad_fn=<PowBackward>, device=cuda:0

c.backward()
print(a.grad)
# Output:
# [6.]
