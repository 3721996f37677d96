"""convnet: Conv-BatchNorm-ReLU-Dropout blocks, adaptive average pooling and a linear head.

    model = ConvNet()                     # MNIST: (B, 1, 28, 28) -> (B, 10)
    model = ConvNet(ConvNetConfig(in_channels=3))   # CIFAR-10: (B, 3, 32, 32) -> (B, 10)
"""
from dataclasses import dataclass

from mytorch import nn


@dataclass
class ConvNetConfig:
    in_channels: int = 1                # 1 for MNIST, 3 for CIFAR-10
    channels: tuple = (16, 32, 64)      # output channels of each block
    kernel_size: int = 3
    stride: int = 2                     # each block halves the image: 28 -> 14 -> 7 -> 4
    dropout: float = 0.1                # after every block
    n_classes: int = 10


class ConvBlock(nn.Module):
    """conv (no bias: the BatchNorm shift replaces it) -> BatchNorm2d -> ReLU -> Dropout."""

    def __init__(self, c_in, c_out, kernel_size, stride, dropout):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride,
                              padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.act(self.bn(self.conv(x))))


class ConvNet(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or ConvNetConfig()
        widths = [config.in_channels, *config.channels]
        self.blocks = nn.Sequential(*[
            ConvBlock(widths[i], widths[i + 1], config.kernel_size, config.stride,
                      config.dropout) for i in range(len(config.channels))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], config.n_classes)

    def forward(self, x):
        if x.ndim == 3:                  # (B, 28, 28) -> (B, 1, 28, 28)
            x = x.unsqueeze(1)
        x = self.pool(self.blocks(x))    # (B, C, 1, 1)
        return self.head(x.reshape(x.shape[0], -1))
