"""mnist-mlp: the design document's 784-128-64-32-10 perceptron with sigmoid activations.

    model = MnistMLP()                    # or MnistMLP(MLPConfig(hidden=(256, 64)))
    logits = model(images)                # (B, 784) or (B, 1, 28, 28) -> (B, 10)
"""
from dataclasses import dataclass

from mytorch import nn


@dataclass
class MLPConfig:
    in_features: int = 784              # flattened 28x28 image
    hidden: tuple = (128, 64, 32)       # widths of the hidden layers (fc1, fc2, ...)
    n_classes: int = 10                 # digits
    activation: str = "sigmoid"         # "sigmoid" (the design document's) or "relu"


class MnistMLP(nn.Module):
    """Linear layers fc1..fcN with an activation between them; the last one gives logits."""

    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or MLPConfig()
        if config.activation not in ("sigmoid", "relu"):
            raise ValueError(f"MNISTMLP: activation must be 'sigmoid' or 'relu', "
                             f"got {config.activation!r}")
        widths = [config.in_features, *config.hidden, config.n_classes]
        self.n_layers = len(widths) - 1
        for i in range(self.n_layers):
            setattr(self, f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1]))
        self.activation = nn.Sigmoid() if config.activation == "sigmoid" else nn.ReLU()

    def forward(self, x):
        if x.ndim > 2:                   # (B, 1, 28, 28) images
            x = x.reshape(x.shape[0], -1)
        for i in range(1, self.n_layers):
            x = self.activation(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.n_layers}")(x)
