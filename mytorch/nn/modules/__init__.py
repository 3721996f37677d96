"""Layers by family: one module each; every public layer is imported here by name."""
from mytorch.nn.modules.module import Module
from mytorch.nn.modules.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                          Sequential)
from mytorch.nn.modules.linear import Bilinear, Identity, Linear
from mytorch.nn.modules.activation import (CELU, ELU, GELU, GLU, Hardsigmoid, Hardswish, Hardtanh,
                                           LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU,
                                           ReLU6, SELU, SiLU, Sigmoid, Softmax, Softmax2d, Softmin,
                                           Softplus, Softsign, Tanh, Tanhshrink, Threshold)
from mytorch.nn.modules.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss,
                                     CrossEntropyLoss, GaussianNLLLoss, HingeEmbeddingLoss,
                                     HuberLoss, KLDivLoss, L1Loss, MSELoss, MarginRankingLoss,
                                     MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                                     MultiMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss,
                                     SoftMarginLoss, TripletMarginLoss)
from mytorch.nn.modules.normalization import GroupNorm, LayerNorm, LocalResponseNorm, RMSNorm
from mytorch.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
from mytorch.nn.modules.sync_batchnorm import SyncBatchNorm
from mytorch.nn.modules.dropout import Dropout, Dropout1d, Dropout2d
from mytorch.nn.modules.sparse import Embedding
from mytorch.nn.modules.flatten import Flatten, Unflatten
from mytorch.nn.modules.conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                                     ConvTranspose3d)
from mytorch.nn.modules.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
                                        AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d,
                                        AvgPool3d, LPPool1d, LPPool2d, LPPool3d, MaxPool1d,
                                        MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from mytorch.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from mytorch.nn.modules.rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase
from mytorch.nn.modules.attention import MultiheadAttention
from mytorch.nn.modules.instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from mytorch.nn.modules.padding import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d,
                                        ReflectionPad1d, ReflectionPad2d, ReplicationPad1d,
                                        ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from mytorch.nn.modules.pixelshuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from mytorch.nn.modules.fold import Fold, Unfold
from mytorch.nn.modules.transformer import (Transformer, TransformerDecoder,
                                            TransformerDecoderLayer, TransformerEncoder,
                                            TransformerEncoderLayer)
from mytorch.nn.modules.distance import CosineSimilarity, PairwiseDistance
