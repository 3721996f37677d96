"""CIFAR-10 with torchvision's interface, when its host is reachable (offline, the ConvNet
trains on MNIST instead).

    train = CIFAR10("data", train=True, download=True)
    image, label = train[0]          # (32, 32, 3) uint8 array (HWC, as torchvision), int
"""
import pickle
import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from zoo.data.download import DATA_ROOT, Unreachable, fetch_url
from zoo.data.images import ImageDataset

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # as published (torchvision checks the same)
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]


def read_batches(tar_path, names):
    """(images (N, 32, 32, 3) uint8, labels (N,) int64) from the python-pickle batches."""
    images, labels = [], []
    with tarfile.open(tar_path) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers()}
        for name in names:
            if name not in members:
                raise ValueError(f"CIFAR10: {tar_path} has no batch {name!r}")
            batch = pickle.load(tar.extractfile(members[name]), encoding="latin1")
            images.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch["labels"], np.int64))
    return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


class CIFAR10(ImageDataset):
    """CIFAR-10; `dataset[i]` is `(image, label)`, image a (32, 32, 3) uint8 array."""

    classes: ClassVar[list] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                               "horse", "ship", "truck"]

    def __init__(self, root=DATA_ROOT, train=True, download=False, transform=None,
                 target_transform=None):
        self.root, self.train = Path(root), train
        self.transform, self.target_transform = transform, target_transform
        path = self.root / "cifar-10-python.tar.gz"
        if not path.exists():
            if not download:
                raise RuntimeError(f"CIFAR10: {path} not found; use download=True")
            try:
                fetch_url(URL, path, md5=MD5, timeout=10)
            except Unreachable as e:
                raise RuntimeError(f"CIFAR10: {URL} unreachable ({e}); train the ConvNet on "
                                   "MNIST instead") from e
        self.data, self.targets = read_batches(path, TRAIN_BATCHES if train else TEST_BATCHES)

