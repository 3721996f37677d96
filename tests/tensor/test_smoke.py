import numpy as np
import pytest

import mytorch
from tests.helpers import check


@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 1), (1, 4)], [(), (2, 3)],
                                    [(5,), (2, 5)]])
def test_binary(shapes):
    check(lambda a, b: a * b + a / (b.abs() + 1) - b, shapes)


def test_matmul_noncontig():
    check(lambda a, b: a @ b, [(2, 3, 4), (4, 5)], noncontig=True)


def test_design_example():
    a = mytorch.tensor(np.ones((1,)), requires_grad=True)
    c = (a + 2) ** 2
    c.backward()
    assert a.grad.tolist() == [6.0]
