"""Flatten a model's parameters into one vector and write one back into them."""
import mytorch
from mytorch.tensor import Tensor


def _same_device(param, device, who):
    if device is not None and param.device != device:
        raise TypeError(f"{who}: found two parameters on different devices ({device} and "
                        f"{param.device}), this is not supported")
    return param.device


def parameters_to_vector(parameters):
    """The parameters, flattened and concatenated in order, as one 1-D Tensor (differentiable
    with respect to each parameter).

    >>> vec = nn.utils.parameters_to_vector(model.parameters())   # (total numel,)
    """
    device, flat = None, []
    for p in parameters:
        device = _same_device(p, device, "parameters_to_vector")
        flat.append(p.reshape(-1))
    if not flat:
        raise ValueError("parameters_to_vector: expected a non-empty iterable of parameters")
    return mytorch.cat(flat)


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at the next numel() elements of the 1-D `vec`, reshaped to
    the parameter's shape: afterwards the parameters share `vec`'s memory and take its dtype,
    as in PyTorch. Extra trailing elements of `vec` are ignored.

    >>> nn.utils.vector_to_parameters(vec, model.parameters())
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, but got: "
                        f"{type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    parameters = list(parameters)
    need = sum(p.numel() for p in parameters)
    if need > vec.numel():
        raise RuntimeError(f"vector_to_parameters: vec has {vec.numel()} elements but the "
                           f"parameters need {need}")
    device, start = None, 0
    for p in parameters:
        device = _same_device(p, device, "vector_to_parameters")
        n = p.numel()
        p.data = vec.data[start:start + n].reshape(p.shape)
        start += n
