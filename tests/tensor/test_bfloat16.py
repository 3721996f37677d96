"""bfloat16 (ml_dtypes' NumPy dtype): casts, storage, promotion and training, against torch."""
import numpy as np
import pytest
import torch

import mytorch

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _both(name):
    return getattr(mytorch, name), getattr(torch, name)


def test_casts_round_as_torch_bit_for_bit():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000),
                        [0.0, -0.0, np.inf, -np.inf, 3.3895e38, 1e-40, 1.00390625]])
    a = a.astype(np.float32)
    y = mytorch.tensor(a).bfloat16()
    ty = torch.from_numpy(a).bfloat16()
    np.testing.assert_array_equal(y.view(mytorch.int16).numpy(), ty.view(torch.int16).numpy())
    np.testing.assert_array_equal(y.float().numpy(), ty.float().numpy())
    np.testing.assert_array_equal(y.double().numpy(), ty.double().numpy())
    assert y.to(mytorch.float16).tolist() == ty.to(torch.float16).tolist()


def test_storage_and_properties():
    x, tx = mytorch.zeros(3, 5, dtype=mytorch.bfloat16), torch.zeros(3, 5, dtype=torch.bfloat16)
    assert x.element_size() == tx.element_size() == 2
    assert x.nbytes == tx.nbytes
    assert x.is_floating_point() and tx.is_floating_point()
    assert mytorch.ones(2).bfloat16().dtype == mytorch.bfloat16
    f, tf = mytorch.finfo(mytorch.bfloat16), torch.finfo(torch.bfloat16)
    assert (f.eps, f.max, f.min, f.tiny, f.bits) == (tf.eps, tf.max, tf.min, tf.tiny, tf.bits)
    assert mytorch.tensor([1, 2]).to(mytorch.bfloat16).requires_grad_().requires_grad


def test_repr_matches_torch():
    a = np.array([[0.1, -2.5, 1e3], [3.0, 0.0, -7.25]], np.float32)
    assert repr(mytorch.tensor(a).bfloat16()) == \
        repr(torch.from_numpy(a).bfloat16()).replace("torch.", "mytorch.")


@pytest.mark.parametrize("other", DTYPES)
def test_promotion_matches_torch(other):
    m_bf, t_bf = _both("bfloat16")
    m_o, t_o = _both(other)
    for shape_a, shape_b in [((3,), (3,)), ((3,), ()), ((), (3,))]:
        ma, mb = mytorch.ones(shape_a, dtype=m_bf), mytorch.ones(shape_b, dtype=m_o)
        ta, tb = torch.ones(shape_a, dtype=t_bf), torch.ones(shape_b, dtype=t_o)
        assert str((ma + mb).dtype) == str((ta + tb).dtype).replace("torch.", "")
        assert str((mb * ma).dtype) == str((tb * ta).dtype).replace("torch.", "")
    for scalar in (2, 2.5, True):
        assert (mytorch.ones(2, dtype=m_bf) * scalar).dtype == mytorch.bfloat16


def test_mlp_trains_in_bfloat16_like_torch():
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(),
                                  torch.nn.LayerNorm(16), torch.nn.Linear(16, 4)).bfloat16()
    m_model = mytorch.nn.Sequential(mytorch.nn.Linear(8, 16), mytorch.nn.GELU(),
                                    mytorch.nn.LayerNorm(16), mytorch.nn.Linear(16, 4))
    m_model.load_state_dict({k: mytorch.tensor(v.float().numpy()) for k, v in
                             t_model.state_dict().items()})
    m_model.to(mytorch.bfloat16)
    assert all(p.dtype == mytorch.bfloat16 for p in m_model.parameters())
    x = np.random.default_rng(1).standard_normal((32, 8)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 4, 32)
    t_out = t_model(torch.from_numpy(x).bfloat16())
    m_out = m_model(mytorch.tensor(x).bfloat16())
    assert m_out.dtype == mytorch.bfloat16 and t_out.dtype == torch.bfloat16
    # bfloat16 keeps 8 bits of mantissa: results agree to its resolution
    np.testing.assert_allclose(m_out.float().detach().numpy(), t_out.float().detach().numpy(),
                               atol=0.05, rtol=0.02)
    t_loss = torch.nn.functional.cross_entropy(t_out.float(), torch.from_numpy(y))
    m_loss = mytorch.nn.functional.cross_entropy(m_out.float(), mytorch.tensor(y))
    t_loss.backward()
    m_loss.backward()
    assert abs(m_loss.item() - t_loss.item()) < 0.02
    for (name, p), tp in zip(m_model.named_parameters(), t_model.parameters()):
        assert p.grad.dtype == mytorch.bfloat16, name
        np.testing.assert_allclose(p.grad.float().numpy(), tp.grad.float().numpy(),
                                   atol=0.02, rtol=0.05, err_msg=name)


BF16_OPS = {
    "softmax": lambda L, F, x, img: F.softmax(x, -1),
    "log_softmax": lambda L, F, x, img: F.log_softmax(x, -1),
    "gelu": lambda L, F, x, img: F.gelu(x),
    "silu": lambda L, F, x, img: F.silu(x),
    "exp": lambda L, F, x, img: x.exp(),
    "sum": lambda L, F, x, img: x.sum(1),
    "mean": lambda L, F, x, img: x.mean(),
    "cumsum": lambda L, F, x, img: x.cumsum(0),
    "matmul": lambda L, F, x, img: x @ x.t(),
    "einsum": lambda L, F, x, img: L.einsum("ij,kj->ik", x, x),
    "conv2d": lambda L, F, x, img: F.conv2d(img, img[:2, :, :3, :3]),
    "max_pool2d": lambda L, F, x, img: F.max_pool2d(img, 2),
    "avg_pool2d": lambda L, F, x, img: F.avg_pool2d(img, 2),
    "interpolate": lambda L, F, x, img: F.interpolate(img, scale_factor=2),
    "layer_norm": lambda L, F, x, img: F.layer_norm(x, (8,)),
    "group_norm": lambda L, F, x, img: F.group_norm(img, 3),
    "sdpa": lambda L, F, x, img: F.scaled_dot_product_attention(x[None], x[None], x[None]),
    "cross_entropy": lambda L, F, x, img: F.cross_entropy(x, L.tensor([0, 1, 2, 3])),
}


@pytest.mark.parametrize("op", sorted(BF16_OPS))
def test_ops_keep_bfloat16_like_torch(op):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 8)).astype(np.float32)
    im = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    fn = BF16_OPS[op]
    y = fn(mytorch, mytorch.nn.functional, mytorch.tensor(a).bfloat16(),
           mytorch.tensor(im).bfloat16())
    ty = fn(torch, torch.nn.functional, torch.from_numpy(a).bfloat16(),
            torch.from_numpy(im).bfloat16())
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    np.testing.assert_allclose(y.float().numpy(), ty.float().numpy(), atol=0.1, rtol=0.05)
