"""Run a PyTorch script with mytorch in torch's place: `python run_as_torch.py script.py args`.

Every imported mytorch module is aliased under torch's name before the script runs, so the
script's own `import torch` (and `torch.nn`, `torch.nn.functional`, ...) gets mytorch."""
import os
import runpy
import sys

import mytorch
import mytorch.nn.functional  # noqa: F401 - imported so that it is aliased too
import mytorch.utils.data  # noqa: F401

for name, module in list(sys.modules.items()):
    if name == "mytorch" or name.startswith("mytorch."):
        sys.modules["torch" + name[len("mytorch"):]] = module

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
runpy.run_path(script, run_name="__main__")
