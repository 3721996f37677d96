"""The PyTorch baseline: zoo's ConvNet written with torch.nn, with the same parameter names."""
from torch import nn


class ConvBlock(nn.Module):
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
    def __init__(self, config):
        super().__init__()
        widths = [config.in_channels, *config.channels]
        self.blocks = nn.Sequential(*[
            ConvBlock(widths[i], widths[i + 1], config.kernel_size, config.stride,
                      config.dropout) for i in range(len(config.channels))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], config.n_classes)

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = self.pool(self.blocks(x))
        return self.head(x.reshape(x.shape[0], -1))
