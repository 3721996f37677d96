"""Run a PyTorch script on mytorch, unchanged: `python run_as_torch.py script.py [args]`.

The README's aliasing recipe: after it, `import torch` (and torch.nn, torch.utils.data,
torch.amp, ...) gives mytorch's modules.
"""
import runpy
import sys

import mytorch

sys.modules["torch"] = mytorch
for name, module in list(sys.modules.items()):
    if name.startswith("mytorch."):
        sys.modules["torch." + name[len("mytorch."):]] = module

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
