"""nn.utils: gradient clipping, parameters <-> one vector, and (in nn.utils.rnn) padding of
variable-length sequences."""
from mytorch.nn.utils import rnn
from mytorch.nn.utils.clip_grad import (
                                        clip_grad_norm_,
                                        clip_grad_value_,
                                        clip_grads_with_norm_,
                                        get_total_norm,
)
from mytorch.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "rnn", "vector_to_parameters"]
