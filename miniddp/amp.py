"""fp16 training for the Accelerator. The machinery lives in mytorch.amp (loss scaling in
`grad_scaler`, fp16 module weights in `half`); these names stay importable from here."""
from mytorch.amp.grad_scaler import LossScaler
from mytorch.amp.half import forward_fp16, fp32_grad_hooks, half_weights

__all__ = ["LossScaler", "forward_fp16", "fp32_grad_hooks", "half_weights"]
