import numpy as np
import pytest

import mytorch
from zoo.data.augment import RandomAffine, affine_sample, rotation_theta

torch = pytest.importorskip("torch")


def _torch_affine(x, theta):
    tx, tt = torch.from_numpy(x), torch.from_numpy(theta)
    grid = torch.nn.functional.affine_grid(tt, tx.shape, align_corners=False)
    return torch.nn.functional.grid_sample(tx, grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=False).numpy()


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 9, 13), (1, 2, 5, 5)])
def test_affine_sample_matches_torch(shape):
    rng = np.random.default_rng(0)
    x = rng.random(shape).astype(np.float32)
    theta = RandomAffine(degrees=25, shift=3, scale=(0.8, 1.2), seed=1).thetas(
        shape[0], shape[2], shape[3])
    got = affine_sample(mytorch.tensor(x), mytorch.tensor(theta)).numpy()
    np.testing.assert_allclose(got, _torch_affine(x, theta), atol=1e-5)


def test_identity_rotation_and_shift():
    x = np.random.default_rng(2).random((2, 1, 8, 8)).astype(np.float32)
    ident = np.tile(rotation_theta(0)[None], (2, 1, 1))
    np.testing.assert_allclose(affine_sample(mytorch.tensor(x), mytorch.tensor(ident)).numpy(),
                               x, atol=1e-6)
    quarter = np.tile(rotation_theta(90)[None], (2, 1, 1))
    np.testing.assert_allclose(affine_sample(mytorch.tensor(x),
                                             mytorch.tensor(quarter)).numpy(),
                               _torch_affine(x, quarter), atol=1e-5)
    shift = np.tile(np.array([[1, 0, 2 / 8], [0, 1, 0]], np.float32)[None], (2, 1, 1))
    out = affine_sample(mytorch.tensor(x), mytorch.tensor(shift)).numpy()
    np.testing.assert_allclose(out[..., :7], x[..., 1:], atol=1e-6)  # one pixel to the left
    assert np.all(out[..., 7] == 0)


def test_random_affine_is_seeded_and_keeps_digits():
    x = np.zeros((4, 1, 28, 28), np.float32)
    x[:, :, 10:18, 12:16] = 1.0
    a = RandomAffine(degrees=10, shift=2, seed=3)(mytorch.tensor(x)).numpy()
    b = RandomAffine(degrees=10, shift=2, seed=3)(mytorch.tensor(x)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and not np.allclose(a, x)
    np.testing.assert_allclose(a.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05)  # mass kept
    with pytest.raises(ValueError, match=r"theta must be \(4, 2, 3\)"):
        affine_sample(mytorch.tensor(x), mytorch.zeros(4, 3, 3))
