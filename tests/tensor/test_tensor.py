"""Tensor basics: construction, conversion, metadata, repr, dtype promotion, in-place ops,
factories and seeding, devices."""
import itertools
import pickle

import numpy as np
import pytest
import torch

import mytorch


def torch_dtype_name(t):
    return str(t.dtype).replace("torch.", "")


# ---- construction and conversion ----

@pytest.mark.parametrize("data", [1, 2.5, True, [1, 2], [1.0, 2], [[True, False]], [], 0.0,
                                  [[1.5, 2.0], [3.0, 4.0]]], ids=str)
def test_tensor_from_python_matches_torch(data):
    m, t = mytorch.tensor(data), torch.tensor(data)
    assert str(m.dtype) == torch_dtype_name(t)
    assert tuple(m.shape) == tuple(t.shape)
    assert m.tolist() == t.tolist()


def test_tensor_from_numpy_keeps_dtype_and_copies():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = mytorch.tensor(a)
    assert t.dtype == mytorch.int32 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 0  # tensor() copies
    shared = mytorch.from_numpy(a)
    assert shared.numpy() is a or np.shares_memory(shared.numpy(), a)
    f64 = mytorch.tensor(np.ones(2))
    assert f64.dtype == mytorch.float64  # arrays keep their dtype, as torch.tensor does


def test_tensor_constructor_and_dtype_argument():
    t = mytorch.Tensor([1, 2, 3], dtype=mytorch.float64, requires_grad=True)
    assert t.dtype == mytorch.float64 and t.requires_grad and t.is_leaf
    assert mytorch.tensor([1, 2], dtype=mytorch.float16).dtype == mytorch.float16
    nested = mytorch.tensor([mytorch.tensor(1.0), mytorch.tensor(2.0)])
    assert nested.tolist() == [1.0, 2.0]


def test_metadata():
    t = mytorch.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert t.dtype == mytorch.float32 and t.device == mytorch.device("cpu")
    assert str(t.device) == "cpu" and t.device == "cpu"
    assert t.T.shape == (4, 3, 2) and t.is_contiguous() and not t.transpose(0, 1).is_contiguous()
    assert isinstance(t.data, np.ndarray)


def test_item_tolist_iteration():
    t = mytorch.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = [r.tolist() for r in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    assert t[1, 0].item() == 3.0 and isinstance(t[1, 0].item(), float)
    assert isinstance(mytorch.tensor(3).item(), int)
    assert float(mytorch.tensor([2.5])) == 2.5 and int(mytorch.tensor(7)) == 7
    with pytest.raises(RuntimeError, match="item"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(mytorch.tensor(1.0))


def test_numpy_semantics():
    t = mytorch.tensor([1.0, 2.0])
    arr = t.numpy()
    assert isinstance(arr, np.ndarray)
    arr[0] = 9.0  # shares memory with the tensor, as in torch
    assert t[0].item() == 9.0
    r = mytorch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        r.numpy()
    assert r.detach().numpy().tolist() == [1.0]
    assert np.asarray(mytorch.tensor([1, 2])).tolist() == [1, 2]


def test_to_and_casts():
    t = mytorch.tensor([1.5, -2.5])
    assert t.to(mytorch.float64).dtype == mytorch.float64
    assert t.to("cpu") is t and t.cpu() is t
    assert t.long().tolist() == torch.tensor([1.5, -2.5]).long().tolist()
    assert t.int().dtype == mytorch.int32 and t.bool().dtype == mytorch.bool
    assert t.double().dtype == mytorch.float64 and t.half().dtype == mytorch.float16
    assert t.to(mytorch.zeros(1, dtype=mytorch.float64)).dtype == mytorch.float64
    assert t.type_as(mytorch.tensor([1])).dtype == mytorch.int64


def test_cast_backward():
    x = mytorch.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == mytorch.float32 and x.grad.tolist() == [3.0, 3.0]


def test_repr_like_torch():
    a = mytorch.tensor([1.0], requires_grad=True)
    assert repr((a + 2) ** 2) == "tensor([9.], grad_fn=<PowBackward>)"
    assert repr(a) == "tensor([1.], requires_grad=True)"
    cases = [[1.5, 2.25, -3.0], 3, [[1, 2], [3, 4]], 2.5, [True, False], [0.1234567, 1.0]]
    for c in cases:
        assert repr(mytorch.tensor(c)) == repr(torch.tensor(c))
    assert repr(mytorch.zeros(0)) == repr(torch.zeros(0))
    assert repr(mytorch.tensor([1, 2], dtype=mytorch.int32)) == \
        "tensor([1, 2], dtype=mytorch.int32)"


def test_pickle_roundtrip():
    t = mytorch.tensor([1.0, 2.0], requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.tolist() == [1.0, 2.0] and u.requires_grad


# ---- dtype promotion ----

DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]


def _make(lib, dtype, zero_dim):
    shape = () if zero_dim else (2,)
    return lib.ones(shape, dtype=getattr(lib, dtype))


@pytest.mark.parametrize("op", ["add", "mul", "truediv"])
def test_promotion_table_tensor_tensor(op):
    fn = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b,
          "truediv": lambda a, b: a / b}[op]
    for da, db, za, zb in itertools.product(DTYPES, DTYPES, (False, True), (False, True)):
        t = fn(_make(torch, da, za), _make(torch, db, zb))
        m = fn(_make(mytorch, da, za), _make(mytorch, db, zb))
        assert str(m.dtype) == torch_dtype_name(t), (op, da, db, za, zb)


@pytest.mark.parametrize("scalar", [True, 2, 2.5, -1])
@pytest.mark.parametrize("op", ["add", "mul", "truediv", "rsub", "radd"])
def test_promotion_with_python_scalars(op, scalar):
    fn = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "truediv": lambda a, b: a / b,
          "rsub": lambda a, b: b - a if not isinstance(b, bool) else a * b,
          "radd": lambda a, b: b + a}[op]
    for dtype, zero_dim in itertools.product(DTYPES, (False, True)):
        if dtype == "bool" and op == "rsub":
            continue
        t = fn(_make(torch, dtype, zero_dim), scalar)
        m = fn(_make(mytorch, dtype, zero_dim), scalar)
        assert str(m.dtype) == torch_dtype_name(t), (op, dtype, zero_dim, scalar)
        np.testing.assert_allclose(m.numpy().astype(np.float64), t.numpy().astype(np.float64))


def test_python_scalars_never_promote_float32():
    x = mytorch.ones(3)
    for y in (x + 1e300 * 0, x * 2.5, 2.5 / x, x - 3, x ** 2.5, x.clamp(0.5, 1.5),
              mytorch.where(x > 0, x, 0.0), x.maximum(mytorch.tensor(2.0, dtype=mytorch.float64))):
        assert y.dtype == mytorch.float32
    assert (x * np.float64(2.0)).dtype == mytorch.float32


def test_int_division():
    a, b = [7, -7, 3], [2, 2, 4]
    m = mytorch.tensor(a) / mytorch.tensor(b)
    t = torch.tensor(a) / torch.tensor(b)
    assert m.dtype == mytorch.float32
    np.testing.assert_allclose(m.numpy(), t.numpy())
    assert (mytorch.tensor(a) / 2).dtype == mytorch.float32
    assert (1 / mytorch.tensor(a)).dtype == mytorch.float32
    m = mytorch.tensor(a, dtype=mytorch.int32) / mytorch.tensor(2.0, dtype=mytorch.float64)
    t = torch.tensor(a, dtype=torch.int32) / torch.tensor(2.0, dtype=torch.float64)
    assert str(m.dtype) == torch_dtype_name(t)


# ---- in-place ops ----

def test_inplace_ops_without_grad():
    x = mytorch.tensor([1.0, 2.0, 3.0])
    ident = id(x.data)
    x += 1
    x *= 2
    x -= mytorch.tensor([1.0, 1.0, 1.0])
    x /= 2
    x.add_(1, alpha=2).sub_(0.5).mul_(2).div_(4)
    assert id(x.data) == ident
    t = torch.tensor([1.0, 2.0, 3.0])
    t += 1
    t *= 2
    t -= torch.tensor([1.0, 1.0, 1.0])
    t /= 2
    t.add_(1, alpha=2).sub_(0.5).mul_(2).div_(4)
    np.testing.assert_allclose(x.numpy(), t.numpy())
    x.zero_()
    assert x.tolist() == [0.0, 0.0, 0.0]
    x.fill_(3)
    assert x.tolist() == [3.0] * 3
    x.clamp_(max=1.0)
    assert x.tolist() == [1.0] * 3
    x.copy_(mytorch.tensor([4.0, 5.0, 6.0]))
    assert x.tolist() == [4.0, 5.0, 6.0]


def test_inplace_on_non_leaf_records_the_graph():
    arr = np.array([0.5, -1.0, 2.0])
    grads = []
    for lib in (torch, mytorch):
        x = lib.tensor(arr, requires_grad=True)
        y = x * 2
        y += x * x
        y *= 3
        y.sub_(1)
        y.exp().sum().backward()
        grads.append(x.grad.detach().numpy() if lib is torch else x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0])


def test_inplace_on_leaf_requiring_grad_raises():
    x = mytorch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with pytest.raises(RuntimeError, match="leaf"):
        x.zero_()
    with mytorch.no_grad():
        x -= 0.5
        x.mul_(2)
    assert x.tolist() == [1.0, 1.0] and x.requires_grad


def test_inplace_shape_error_names_op():
    x = mytorch.ones(3)
    with pytest.raises(RuntimeError, match=r"\(2,\)"):
        x += mytorch.ones(2)


# ---- factories and seeding ----

def test_factories_match_torch():
    pairs = [
        (lambda lib: lib.zeros(2, 3), None), (lambda lib: lib.ones((2, 3)), None),
        (lambda lib: lib.full((2, 2), 1.5), None), (lambda lib: lib.full((2,), 3), None),
        (lambda lib: lib.full((2,), True), None),
        (lambda lib: lib.arange(5), None), (lambda lib: lib.arange(1, 7, 2), None),
        (lambda lib: lib.arange(0.0, 1.0, 0.25), None), (lambda lib: lib.arange(0, 1, 0.3), None),
        (lambda lib: lib.linspace(0, 1, 5), None), (lambda lib: lib.eye(3), None),
        (lambda lib: lib.eye(2, 3), None),
        (lambda lib: lib.zeros(2, dtype=lib.int32), None),
        (lambda lib: lib.zeros_like(lib.ones(2, 3, dtype=lib.float64)), None),
        (lambda lib: lib.ones_like(lib.ones(2)), None),
        (lambda lib: lib.full_like(lib.ones(2, dtype=lib.int64), 7), None),
        (lambda lib: lib.empty(2, 3).shape, "shape"),
        (lambda lib: lib.empty_like(lib.ones(4)).shape, "shape"),
    ]
    for make, kind in pairs:
        m, t = make(mytorch), make(torch)
        if kind == "shape":
            assert tuple(m) == tuple(t)
            continue
        assert str(m.dtype) == torch_dtype_name(t), make
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-6, err_msg=str(make))


def test_factory_requires_grad_and_new_methods():
    z = mytorch.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    x = mytorch.ones(2, dtype=mytorch.float64)
    assert x.new_zeros(3).dtype == mytorch.float64 and x.new_ones(1).tolist() == [1.0]
    assert x.new_full((2,), 5).tolist() == [5.0, 5.0] and x.new_tensor([1]).dtype == x.dtype


def test_random_factories_shapes_and_ranges():
    assert mytorch.randn(3, 4).shape == (3, 4) and mytorch.randn(3).dtype == mytorch.float32
    r = mytorch.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    i = mytorch.randint(2, 5, (100,))
    assert i.dtype == mytorch.int64 and set(i.tolist()) <= {2, 3, 4}
    assert sorted(mytorch.randperm(6).tolist()) == list(range(6))
    assert mytorch.randn_like(mytorch.zeros(2, dtype=mytorch.float64)).dtype == mytorch.float64
    assert mytorch.rand_like(mytorch.zeros(2, 2)).shape == (2, 2)
    assert mytorch.randint_like(mytorch.zeros(3, dtype=mytorch.int64), 4).shape == (3,)
    x = mytorch.randn(20000)
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05


def test_manual_seed_reproducible():
    def draw():
        return (mytorch.randn(5).tolist(), mytorch.rand(3).tolist(),
                mytorch.randint(0, 100, (4,)).tolist(), mytorch.randperm(7).tolist())
    mytorch.manual_seed(123)
    first = draw()
    mytorch.manual_seed(123)
    assert draw() == first
    mytorch.manual_seed(124)
    assert draw() != first
    g = mytorch.Generator().manual_seed(5)
    a = mytorch.randn(3, generator=g).tolist()
    g.manual_seed(5)
    assert mytorch.randn(3, generator=g).tolist() == a
    state = mytorch.get_rng_state()
    b = mytorch.rand(2).tolist()
    mytorch.set_rng_state(state)
    assert mytorch.rand(2).tolist() == b


# ---- devices ----

def test_device_objects():
    assert mytorch.device("cuda") == mytorch.device("cuda:0")
    assert str(mytorch.device("cuda", 1)) == "cuda:1"
    with pytest.raises(ValueError, match="unknown device"):
        mytorch.device("tpu")


def test_cuda_is_available_never_raises():
    assert mytorch.cuda.is_available() in (True, False)
    assert isinstance(mytorch.cuda.device_count(), int)


def test_cuda_unavailable_is_a_clear_error():
    if mytorch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        mytorch.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        mytorch.ones(2).cuda()


def test_roundtrip_to_device(device):
    x = mytorch.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert x.device == mytorch.device(device)
    y = (x.cpu() * 2).to(device)
    assert y.device == x.device
    y.sum().backward()
    assert x.grad.device == x.device and x.grad.tolist() == [2.0, 2.0]


def test_mixed_devices_error_names_both(cuda_device):
    a = mytorch.ones(2, device=cuda_device)
    b = mytorch.ones(2)
    with pytest.raises(RuntimeError, match=r"cuda:0.*cpu|cpu.*cuda:0"):
        a + b


def test_randint_high_size_form_and_ndimension():
    x = mytorch.randint(10, (3, 2))
    assert tuple(x.shape) == (3, 2) and x.dtype == np.int64
    assert int(x.max()) < 10 and int(x.min()) >= 0
    assert mytorch.zeros(2, 3).ndimension() == torch.zeros(2, 3).ndimension()
    y = mytorch.tensor([-1.0, 2.0])
    y.abs_()
    np.testing.assert_array_equal(y.numpy(), torch.tensor([-1.0, 2.0]).abs_().numpy())


def test_set_printoptions_like_torch():
    import torch
    x = np.array([[1.123456, 2.5e-4, 3.0]] * 2, np.float32)
    try:
        for kw in (dict(precision=2), dict(precision=6), dict(sci_mode=False, precision=3)):
            mytorch.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            assert repr(mytorch.tensor(x)) == repr(torch.tensor(x))
        mytorch.set_printoptions(threshold=5, edgeitems=1)
        assert "..." in repr(mytorch.arange(100))
        with pytest.raises(ValueError, match="profile"):
            mytorch.set_printoptions(profile="tiny")
    finally:
        mytorch.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(mytorch.tensor([1.5, 2.0])) == "tensor([1.5000, 2.0000])"
