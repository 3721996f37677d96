"""Functional forms of the layers: `mytorch.nn.functional as F`."""

# Convolution, pooling and interpolation live in mytorch.ops.conv; attention in
# mytorch.ops.attention; recurrent cells in mytorch.ops.rnn. Keep these re-exports.
from mytorch.ops.conv import *  # noqa: F401,F403,E402
from mytorch.ops.attention import *  # noqa: F401,F403,E402
