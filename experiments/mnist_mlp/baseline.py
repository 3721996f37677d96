"""The PyTorch baseline: the same MLP written with torch.nn, with the same parameter names."""
from torch import nn


class MnistMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 32)
        self.fc4 = nn.Linear(32, 10)
        self.activation = nn.Sigmoid()

    def forward(self, x):
        x = self.activation(self.fc1(x.flatten(1)))
        x = self.activation(self.fc2(x))
        x = self.activation(self.fc3(x))
        return self.fc4(x)


def build():
    return MnistMLP()

