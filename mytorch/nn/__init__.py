"""Layers, losses and containers with PyTorch's API."""
from mytorch.nn.parameter import Buffer, Parameter
from mytorch.nn.modules import *  # noqa: F401,F403
from mytorch.nn.modules import Module
from mytorch.nn import functional, init, utils  # noqa: E402
from mytorch.nn import parallel  # noqa: E402
