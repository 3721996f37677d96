"""Parameter: a Tensor that a Module registers as learnable."""
from mytorch.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is registered when assigned to a Module.

    >>> self.weight = nn.Parameter(mytorch.empty(out_features, in_features))
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = []
        super().__init__(data.detach().data if isinstance(data, Tensor) else data,
                         requires_grad=False)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        from mytorch import backend
        return (Parameter, (backend.to_device(self.data, "cpu"), self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module."""

    def __init__(self, data, persistent=True):
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.persistent = persistent
