"""Functional forms of the layers: `import mytorch.nn.functional as F`, as torch's.

One module per family; every public name is imported here by name:

    activation      relu, gelu, softmax, ... and the in-place spellings (relu_, ...)
    dense           linear, bilinear
    dropouts        dropout, dropout1d, dropout2d
    sparse          embedding, one_hot
    normalization   layer_norm, batch_norm, group_norm, instance_norm, rms_norm, normalize, ...
    loss            cross_entropy, nll_loss, mse_loss, ... (every torch loss we have)
    distance        cosine_similarity, pairwise_distance
    convolution     conv1d/2d/3d, conv_transpose1d/2d/3d
    pooling         max/avg/lp/adaptive pooling and unpooling, 1-D to 3-D
    attention       scaled_dot_product_attention
    recurrent       rnn_tanh_cell, lstm_cell, gru_cell, recurrent_layer
    resampling      pad, interpolate, upsample, pixel_shuffle, channel_shuffle, unfold, fold

The array-level Functions they run live in mytorch.ops; window geometry in mytorch.ops.window.
Layers with two paths take `auto=`: `auto=False` (default) runs the hand-written Function,
`auto=True` composes Tensor ops and lets autograd differentiate.
"""
from mytorch.nn.functional.activation import (bias_gelu, celu, elu, elu_, gelu, glu,
                                              gumbel_softmax, hardshrink, hardsigmoid, hardswish,
                                              hardtanh, hardtanh_, leaky_relu, leaky_relu_,
                                              log_softmax, logsigmoid, mish, prelu, relu, relu6,
                                              relu_, selu, sigmoid, silu, softmax, softmin,
                                              softplus, softshrink, softsign, tanh, tanhshrink,
                                              threshold)
from mytorch.nn.functional.attention import scaled_dot_product_attention
from mytorch.nn.functional.convolution import (conv1d, conv2d, conv3d, conv_transpose1d,
                                               conv_transpose2d, conv_transpose3d)
from mytorch.nn.functional.distance import cosine_similarity, pairwise_distance
from mytorch.nn.functional.dropouts import dropout, dropout1d, dropout2d
from mytorch.nn.functional.dense import bilinear, linear
from mytorch.nn.functional.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                        cosine_embedding_loss, cross_entropy, gaussian_nll_loss,
                                        hinge_embedding_loss, huber_loss, kl_div, l1_loss,
                                        margin_ranking_loss, mse_loss, multi_margin_loss,
                                        multilabel_margin_loss, multilabel_soft_margin_loss,
                                        nll_loss, poisson_nll_loss, smooth_l1_loss,
                                        soft_margin_loss, triplet_margin_loss)
from mytorch.nn.functional.normalization import (batch_norm, group_norm, instance_norm, layer_norm,
                                                 local_response_norm, normalize, rms_norm)
from mytorch.nn.functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d,
                                           adaptive_avg_pool3d, adaptive_max_pool1d,
                                           adaptive_max_pool2d, avg_pool1d, avg_pool2d, avg_pool3d,
                                           lp_pool1d, lp_pool2d, lp_pool3d, max_pool1d, max_pool2d,
                                           max_pool3d, max_unpool1d, max_unpool2d, max_unpool3d)
from mytorch.nn.functional.recurrent import (gru_cell, lstm_cell, recurrent_layer, rnn_relu_cell,
                                             rnn_tanh_cell)
from mytorch.nn.functional.resampling import (channel_shuffle, fold, interpolate, pad,
                                              pixel_shuffle, pixel_unshuffle, unfold, upsample)
from mytorch.nn.functional.sparse import embedding, one_hot
from mytorch.nn.functional._util import mytorch_where
