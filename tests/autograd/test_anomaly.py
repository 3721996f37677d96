"""Anomaly detection: NaN gradients are caught at the op that made them, with its forward
call; normal runs record nothing."""
import warnings

import numpy as np
import pytest
import torch

import mytorch
from mytorch.autograd import Function
from mytorch.autograd.engine import ENGINES

engines = pytest.mark.parametrize("engine", ENGINES)


class NanGrad(Function):
    """Identity whose backward returns NaN."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy * np.nan


class Broken(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        raise ValueError("broken backward")


@pytest.fixture(autouse=True)
def _anomaly_off():
    yield
    mytorch.autograd.set_detect_anomaly(False)


@engines
def test_nan_gradient_raises_with_torch_wording(engine):
    x = mytorch.zeros(3, requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        ctx = mytorch.autograd.detect_anomaly()
    with ctx:
        y = NanGrad.apply(x * 2.0)  # forward call recorded: this line
        with pytest.raises(RuntimeError) as info:
            y.sum().backward(engine=engine)
    msg = str(info.value)
    assert msg.startswith("Function 'NanGradBackward' returned nan values in its 0th output.")
    assert "Traceback of forward call that caused the error" in msg
    assert "test_anomaly.py" in msg and "NanGrad.apply(x * 2.0)" in msg
    assert x.grad is None


def test_torch_raises_the_same_way():
    x = torch.zeros(3, requires_grad=True)
    with pytest.warns(UserWarning):
        ctx = torch.autograd.detect_anomaly()
    # sqrt at 0 has an infinite derivative: 0 * inf = NaN in SqrtBackward
    with ctx, pytest.raises(RuntimeError, match=r"returned nan values in its 0th output\."), \
            pytest.warns(UserWarning, match="Error detected in SqrtBackward"):
        torch.sqrt(x).sum().mul(0.0).backward()
    xm = mytorch.zeros(3, requires_grad=True)
    with mytorch.autograd.set_detect_anomaly(True):
        with pytest.raises(RuntimeError, match=r"'SqrtBackward' returned nan values in its "
                                               r"0th output\."):
            mytorch.sqrt(xm).sum().mul(0.0).backward()


def test_off_by_default_nan_flows_silently():
    assert not mytorch.autograd.is_anomaly_enabled()
    x = mytorch.zeros(2, requires_grad=True)
    y = NanGrad.apply(x)
    assert not hasattr(y.grad_fn, "_forward_stack")  # nothing recorded on the normal path
    y.sum().backward()
    assert np.isnan(x.grad.numpy()).all()


def test_check_nan_false_only_records():
    x = mytorch.zeros(2, requires_grad=True)
    with mytorch.autograd.set_detect_anomaly(True, check_nan=False):
        assert mytorch.autograd.is_anomaly_enabled()
        assert not mytorch.autograd.is_anomaly_check_nan_enabled()
        NanGrad.apply(x).sum().backward()
    assert np.isnan(x.grad.numpy()).all()
    assert not mytorch.autograd.is_anomaly_enabled()


def test_set_detect_anomaly_as_function_and_context():
    mytorch.autograd.set_detect_anomaly(True)
    assert mytorch.autograd.is_anomaly_enabled()
    with mytorch.autograd.set_detect_anomaly(False):
        assert not mytorch.autograd.is_anomaly_enabled()
    assert mytorch.autograd.is_anomaly_enabled()
    mytorch.autograd.set_detect_anomaly(False)
    assert not mytorch.autograd.is_anomaly_enabled()


def test_graph_built_outside_anomaly_mode_says_so():
    x = mytorch.zeros(2, requires_grad=True)
    y = NanGrad.apply(x)
    with mytorch.autograd.set_detect_anomaly(True):
        with pytest.raises(RuntimeError, match="No forward pass information available"):
            y.sum().backward()


def test_failing_backward_warns_with_forward_trace():
    x = mytorch.ones(2, requires_grad=True)
    with mytorch.autograd.set_detect_anomaly(True):
        y = Broken.apply(x)
        with pytest.warns(UserWarning, match="Error detected in BrokenBackward. Traceback of "
                                             "forward call"):
            with pytest.raises(ValueError, match="broken backward"):
                y.sum().backward()


def test_decorator_and_finite_gradients_pass():
    with pytest.warns(UserWarning):
        deco = mytorch.autograd.detect_anomaly()

    @deco
    def run(x):
        assert mytorch.autograd.is_anomaly_enabled()
        (x * x).sum().backward()

    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(x)
    assert not mytorch.autograd.is_anomaly_enabled()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
