"""Batch augmentation for images, written with mytorch ops: random small rotations, shifts and
scalings applied by bilinear resampling (what torch's affine_grid + grid_sample do with
align_corners=False and zero padding).

    augment = RandomAffine(degrees=10, shift=2, scale=(0.9, 1.1), seed=0)
    x = augment(x)                            # (B, C, H, W) float Tensor -> same shape
"""
import math

import numpy as np

import mytorch


def affine_sample(x, theta):
    """Resample images x (B, C, H, W) at the points theta (B, 2, 3) maps the output grid to,
    in normalized coordinates ([-1, 1] spans the image, pixel centres at (2i + 1) / W - 1);
    bilinear, zeros outside. Equals torch's grid_sample(x, affine_grid(theta, x.shape,
    align_corners=False), align_corners=False)."""
    B, C, H, W = x.shape
    if tuple(theta.shape) != (B, 2, 3):
        raise ValueError(f"affine_sample: theta must be ({B}, 2, 3) for images of shape "
                         f"{tuple(x.shape)}, got {tuple(theta.shape)}")
    dev, dt = x.device, x.dtype
    gx = ((2 * mytorch.arange(W, device=dev) + 1) / W - 1).to(dt).reshape(1, 1, W)
    gy = ((2 * mytorch.arange(H, device=dev) + 1) / H - 1).to(dt).reshape(1, H, 1)
    t = [[theta[:, i, j].reshape(B, 1, 1) for j in range(3)] for i in range(2)]
    sx = t[0][0] * gx + t[0][1] * gy + t[0][2]  # (B, H, W) source points, normalized
    sy = t[1][0] * gx + t[1][1] * gy + t[1][2]
    px, py = ((sx + 1) * W - 1) / 2, ((sy + 1) * H - 1) / 2  # in pixels
    x0, y0 = mytorch.floor(px), mytorch.floor(py)
    flat = x.reshape(B, C, H * W)
    out = mytorch.zeros_like(flat)
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            inside = (xx >= 0) & (xx <= W - 1) & (yy >= 0) & (yy <= H - 1)
            idx = (yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)).to(mytorch.int64)
            idx = idx.reshape(B, 1, H * W).expand(B, C, H * W)
            weight = (wy * wx * inside.to(dt)).reshape(B, 1, H * W)
            out = out + mytorch.gather(flat, 2, idx) * weight
    return out.reshape(B, C, H, W)


class RandomAffine:
    """Per-image random rotation (up to `degrees`), shift (up to `shift` pixels) and scale
    (in `scale`), drawn from its own seeded generator; the content is rotated about the
    image centre and padded with zeros."""

    def __init__(self, degrees=10.0, shift=2.0, scale=(1.0, 1.0), seed=0):
        self.degrees, self.shift, self.scale = degrees, shift, tuple(scale)
        self.rng = np.random.default_rng(seed)

    def thetas(self, B, H, W):
        """(B, 2, 3) float32 matrices mapping output points to source points."""
        a = np.deg2rad(self.rng.uniform(-self.degrees, self.degrees, B))
        s = self.rng.uniform(*self.scale, B)
        tx = self.rng.uniform(-self.shift, self.shift, B) * 2 / W  # pixels -> normalized
        ty = self.rng.uniform(-self.shift, self.shift, B) * 2 / H
        cos, sin = np.cos(a) / s, np.sin(a) / s
        return np.stack([np.stack([cos, -sin, tx], 1), np.stack([sin, cos, ty], 1)],
                        1).astype(np.float32)

    def __call__(self, x):
        B, _, H, W = x.shape
        return affine_sample(x, mytorch.tensor(self.thetas(B, H, W), device=x.device))

    def __repr__(self):
        return (f"RandomAffine(degrees={self.degrees}, shift={self.shift}, "
                f"scale={self.scale})")


def rotation_theta(degrees):
    """(2, 3) matrix of a rotation by `degrees` (for tests and one-off use)."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]],
                    dtype=np.float32)
