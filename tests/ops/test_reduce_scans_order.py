"""More reductions against PyTorch: cumprod, cummax/cummin, median, kthvalue, mode,
count_nonzero, nansum and nanmean (values, indices and gradients)."""
import numpy as np
import pytest
import torch

import mytorch
from mytorch.ops.reduce import accumulate, mode_index, scan
from tests.helpers import check

DTYPES = [np.float32, np.float64]
SHAPE_DIMS = [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((1, 4), 0),
              ((), 0)]


def lib(x):
    return torch if isinstance(x, torch.Tensor) else mytorch


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS, ids=str)
def test_cumprod(shape, dim, dtype, device):
    check(lambda x: x.cumprod(dim), [shape], dtype=dtype, low=0.5, high=1.5, device=device)
    check(lambda x: lib(x).cumprod(x, dim), [shape], dtype=dtype, low=-1.5, high=1.5,
          noncontig=True, device=device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", [
    [2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 3.0], [2.0, 3.0, 0.0], [1.5, 0.0, 2.0, 0.0, 3.0],
    [0.0, 0.0, 2.0], [-1.5, 2.0, 0.5],
], ids=str)
def test_cumprod_zeros_grad(values, dtype, device):
    a = np.array(values, dtype)
    check(lambda x: x.cumprod(0), inputs=[a], device=device)
    rows = np.stack([a, a[::-1].copy(), np.roll(a, 1)])
    check(lambda x: x.cumprod(1), inputs=[rows], device=device)
    check(lambda x: x.cumprod(0), inputs=[rows.T.copy()], device=device)


def test_cumprod_dtypes():
    for dt, kw in [(torch.int32, {}), (torch.bool, {}), (torch.float32, {"dtype": torch.float64}),
                   (torch.int64, {"dtype": torch.float32})]:
        t = torch.tensor([1, 2, 3]).to(dt)
        m = mytorch.tensor(t.numpy())
        mkw = {k: getattr(mytorch, str(v).replace("torch.", "")) for k, v in kw.items()}
        want, got = t.cumprod(0, **kw), m.cumprod(0, **mkw)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS, ids=str)
def test_cummax_cummin(op, shape, dim, dtype, device):
    check(lambda x: tuple(getattr(x, op)(dim)), [shape], dtype=dtype, device=device)
    check(lambda x: tuple(getattr(lib(x), op)(x, dim)), [shape], dtype=dtype, noncontig=True,
          device=device)


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("values", [
    [1.0, 3.0, 3.0, 2.0, 3.0, np.nan, 5.0, np.nan, 1.0],
    [2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
    [np.nan, 1.0, np.nan], [4.0, 4.0, 4.0],
], ids=str)
def test_cummax_cummin_ties_and_nan(op, values, device):
    a = np.array(values)
    check(lambda x: tuple(getattr(x, op)(0)), inputs=[a], device=device)
    check(lambda x: tuple(getattr(x, op)(1)), inputs=[np.stack([a, a[::-1].copy()])],
          device=device)
    ints = np.nan_to_num(a, nan=7).astype(np.int64)
    check(lambda x: tuple(getattr(x, op)(0)), inputs=[ints], device=device)


def test_scan_matches_accumulate():
    x = np.random.default_rng(0).integers(0, 9, (3, 7, 5)).astype(np.float64)
    x[1, 3, 2] = np.nan
    for dim in (0, 1, 2, -1):
        for op in (np.maximum, np.minimum, np.add):
            np.testing.assert_array_equal(scan(op, x, dim), accumulate(op, x, dim))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (4,), (3, 4), (2, 3, 5), (1,), ()], ids=str)
def test_median_all(shape, dtype, device):
    check(lambda x: x.median(), [shape], dtype=dtype, device=device)
    check(lambda x: lib(x).median(x), [shape], dtype=dtype, noncontig=True, device=device)


@pytest.mark.parametrize("values", [[1.0, 2.0, 2.0, 3.0], [2.0, 2.0, 2.0], [3.0, np.nan, 1.0],
                                    [np.nan, 1.0, np.nan]], ids=str)
def test_median_all_ties_share_gradient(values, device):
    check(lambda x: x.median(), inputs=[np.array(values)], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS, ids=str)
def test_median_dim(shape, dim, dtype, keepdim, device):
    check(lambda x: tuple(x.median(dim, keepdim=keepdim)), [shape], dtype=dtype, device=device)
    check(lambda x: tuple(lib(x).median(x, dim=dim, keepdim=keepdim)), [shape], dtype=dtype,
          noncontig=True, device=device)


def test_median_dim_nan(device):
    a = np.array([[1.0, np.nan, 2.0, np.nan], [4.0, 3.0, 2.0, 1.0], [np.nan, 0.0, 5.0, 6.0]])
    check(lambda x: tuple(x.median(1)), inputs=[a], device=device)


def test_median_int():
    t = torch.tensor([[5, 1, 4, 2], [3, 3, 9, 0]])
    m = mytorch.tensor(t.numpy())
    assert m.median().item() == t.median().item() and m.median().dtype == mytorch.int64
    np.testing.assert_array_equal(m.median(1).values.numpy(), t.median(1).values.numpy())


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS, ids=str)
def test_kthvalue(shape, dim, dtype, keepdim, device):
    size = shape[dim] if shape else 1
    for k in sorted({1, (size + 1) // 2, size}):
        check(lambda x: tuple(x.kthvalue(k, dim, keepdim)), [shape], dtype=dtype, device=device)
    check(lambda x: tuple(lib(x).kthvalue(x, size, dim=dim)), [shape], dtype=dtype,
          noncontig=True, device=device)


def test_kthvalue_nan_and_default_dim(device):
    a = np.array([[1.0, np.nan, 2.0], [3.0, 1.0, 2.0]])
    for k in (1, 2, 3):
        check(lambda x: tuple(x.kthvalue(k)), inputs=[a], device=device)


MODE_CASES = [
    [3.0, 1.0, 2.0, 1.0, 3.0, 2.0, 1.0, 3.0],
    [5.0, 4.0, 5.0, 4.0],
    [2.0, 2.0, 7.0],
    [1.0, 2.0, 3.0],
    [0.5],
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("values", MODE_CASES, ids=str)
def test_mode(values, keepdim, device):
    a = np.array(values)
    check(lambda x: tuple(x.mode(keepdim=keepdim)), inputs=[a], device=device)
    rows = np.stack([a, a[::-1].copy(), np.roll(a, 1)]).astype(np.float32)
    check(lambda x: tuple(x.mode(1, keepdim)), inputs=[rows], device=device)
    check(lambda x: tuple(lib(x).mode(x, 0)), inputs=[rows.T.copy()], device=device)


def test_mode_random_ints_match_torch():
    rng = np.random.default_rng(3)
    for shape, dim in [((6, 9), 1), ((9, 6), 0), ((2, 5, 7), -1), ((4,), 0)]:
        a = rng.integers(0, 4, shape)
        t = torch.from_numpy(a).mode(dim)
        m = mytorch.tensor(a).mode(dim)
        np.testing.assert_array_equal(m.values.numpy(), t.values.numpy())
        np.testing.assert_array_equal(m.indices.numpy(), t.indices.numpy())
        np.testing.assert_array_equal(mode_index(a, dim % a.ndim), t.indices.numpy())


def test_count_nonzero():
    a = np.array([[0, 1, 2], [0, 0, 3]])
    for dim in (None, 0, 1, -1, (0, 1)):
        for arr in (a, a.astype(np.float32), a.astype(bool)):
            want = torch.from_numpy(arr).count_nonzero(dim)
            got = mytorch.tensor(arr).count_nonzero(dim)
            assert got.dtype == mytorch.int64
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert mytorch.count_nonzero(mytorch.tensor(3.0)).item() == 1


@pytest.mark.parametrize("op", ["nansum", "nanmean"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)],
                         ids=str)
def test_nansum_nanmean(op, dim, keepdim, dtype, device):
    a = np.random.default_rng(0).uniform(-2, 2, (4, 3)).astype(dtype)
    a[0, 1] = a[2, 2] = np.nan
    a[:, 0] = np.nan  # a whole column of NaN: nansum 0, nanmean nan
    if dim is None:
        check(lambda x: getattr(x, op)(), inputs=[a], device=device)
    else:
        check(lambda x: getattr(x, op)(dim, keepdim), inputs=[a], device=device)
    check(lambda x: getattr(lib(x), op)(x, dim=dim), inputs=[a], device=device)


def test_nansum_int_and_nanmean_errors():
    assert mytorch.tensor([1, 2], dtype=mytorch.int32).nansum().dtype == mytorch.int64
    with pytest.raises(RuntimeError, match="nanmean.*int64"):
        mytorch.tensor([1, 2]).nanmean()


def test_bad_dims_and_k():
    x = mytorch.zeros(2, 3)
    with pytest.raises(IndexError, match="cumprod.*dim 2"):
        x.cumprod(2)
    with pytest.raises(IndexError, match="cummax"):
        x.cummax(-3)
    with pytest.raises(RuntimeError, match=r"kthvalue: k \(4\) out of range"):
        x.kthvalue(4)
    with pytest.raises(RuntimeError, match="kthvalue"):
        x.kthvalue(0, 0)
    with pytest.raises(IndexError, match="median"):
        x.median(5)
    with pytest.raises(RuntimeError, match="median.*empty"):
        mytorch.zeros(0).median()
    with pytest.raises(RuntimeError, match="mode.*empty"):
        mytorch.zeros(2, 0).mode(1)
