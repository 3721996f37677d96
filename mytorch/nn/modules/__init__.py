from mytorch.nn.modules.module import Module
from mytorch.nn.modules.container import *  # noqa: F401,F403
from mytorch.nn.modules.linear import *  # noqa: F401,F403
from mytorch.nn.modules.activation import *  # noqa: F401,F403
from mytorch.nn.modules.loss import *  # noqa: F401,F403
from mytorch.nn.modules.normalization import *  # noqa: F401,F403
from mytorch.nn.modules.batchnorm import *  # noqa: F401,F403
from mytorch.nn.modules.dropout import *  # noqa: F401,F403
from mytorch.nn.modules.sparse import *  # noqa: F401,F403
from mytorch.nn.modules.flatten import *  # noqa: F401,F403
from mytorch.nn.modules.conv import *  # noqa: F401,F403
from mytorch.nn.modules.pooling import *  # noqa: F401,F403
from mytorch.nn.modules.upsampling import *  # noqa: F401,F403
from mytorch.nn.modules.rnn import *  # noqa: F401,F403
from mytorch.nn.modules.attention import *  # noqa: F401,F403
