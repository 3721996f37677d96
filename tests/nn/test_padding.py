"""Padding against PyTorch: F.pad in every mode, constant values, the padding modules."""

import numpy as np
import pytest
import torch

import mytorch
import mytorch.nn as nn
import mytorch.nn.functional as F
from tests.helpers import check

TF = torch.nn.functional


PADS = [("ZeroPad1d", (2,)), ("ZeroPad1d", ((1, 3),)), ("ZeroPad2d", (2,)),
        ("ZeroPad2d", ((1, 0, 2, 1),)), ("ConstantPad1d", (2, 1.5)),
        ("ConstantPad2d", ((1, 2, 0, 1), -2.0)), ("ReflectionPad1d", (2,)),
        ("ReflectionPad2d", ((1, 0, 2, 1),)), ("ReplicationPad1d", ((3, 1),)),
        ("ReplicationPad2d", (2,)), ("CircularPad1d", (1,)), ("CircularPad2d", ((1, 2, 2, 0),))]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (2, 1)), ((3, 5), (0, 3)),
                                       ((2, 3, 4, 5), (1, 2, 3, 0)), ((3, 4, 5), (2, 2, 1, 1)),
                                       ((1, 2, 3, 4, 5), (1, 0, 2, 1, 0, 2)),
                                       ((2, 3, 4, 5), (-1, 2, 1, -2))])
def test_pad_modes_match_torch(mode, shape, pad, device):
    check(lambda x: F.pad(x, pad, mode=mode), [shape],
          torch_fn=lambda x: TF.pad(x, pad, mode=mode), device=device)
    check(lambda x: F.pad(x, pad, mode=mode), [shape],
          torch_fn=lambda x: TF.pad(x, pad, mode=mode), dtype=np.float64, noncontig=True,
          device=device)


def test_pad_constant_value_and_errors():
    check(lambda x: F.pad(x, (1, 2, 0, 1, 1, 1), value=-3.5), [(2, 3, 4)],
          torch_fn=lambda x: TF.pad(x, (1, 2, 0, 1, 1, 1), value=-3.5))
    with pytest.raises(RuntimeError, match="reflect.*less than.*\\(3, 3\\)"):
        F.pad(mytorch.randn(1, 2, 3, 3), (3, 3, 1, 1), mode="reflect")
    with pytest.raises(RuntimeError, match="circular.*more than once"):
        F.pad(mytorch.randn(1, 2, 3, 3), (4, 4, 1, 1), mode="circular")
    with pytest.raises(RuntimeError, match="doesn't take in value"):
        F.pad(mytorch.randn(2, 3), (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="padding of length 4.*\\(2, 3\\)"):
        F.pad(mytorch.randn(2, 3), (1, 1, 1, 1), mode="replicate")
    with pytest.raises(NotImplementedError, match="unrecognised padding mode 'wrap'"):
        F.pad(mytorch.randn(2, 3), (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="even length"):
        F.pad(mytorch.randn(2, 3), (1,))


@pytest.mark.parametrize("name,args", PADS)
def test_padding_modules(name, args):
    m, t = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(m) == repr(t)
    shape = (2, 3, 4, 5) if name.endswith("2d") else (2, 3, 5)
    check(m, [shape], torch_fn=t)
