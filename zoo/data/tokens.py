"""Token streams as nanoGPT keeps them: GPT-2 token ids in uint16 memory-mapped `.bin` files,
one per split (train.bin, val.bin), plus meta.json recording where they came from.

    prepare_shakespeare()                    # data/shakespeare/{train,val}.bin
    train = TokenStream("data/shakespeare/train.bin", block_size=128)
    x, y = train.get_batch(8, rng)           # (8, 128) int64 arrays, y is x shifted by one
"""
import json
import os
from pathlib import Path

import numpy as np

from zoo.data.download import DATA_ROOT, file_hash

DTYPE = np.uint16  # GPT-2's 50,257 ids fit


def write_tokens(path, ids):
    """Write token ids to a uint16 .bin (atomically); ids must lie in [0, 65535]."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(DTYPE).max):
        raise ValueError(f"write_tokens: ids must lie in [0, 65535] for uint16 storage, got "
                         f"[{ids.min()}, {ids.max()}]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    ids.astype(DTYPE).tofile(tmp)
    os.replace(tmp, path)
    return path


def read_tokens(path):
    """The ids of a .bin as a read-only uint16 memmap (no copy)."""
    return np.memmap(path, dtype=DTYPE, mode="r")


def split_ids(ids, val_fraction=0.1):
    """First (1 - val_fraction) of the stream trains, the rest validates (nanoGPT's split)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"split_ids: val_fraction must be in (0, 1), got {val_fraction}")
    n = int(len(ids) * (1.0 - val_fraction))
    return ids[:n], ids[n:]


class TokenStream:
    """A memory-mapped token file seen as (block_size + 1)-windows: `get_batch` samples random
    windows; indexing gives non-overlapping ones, so a DataLoader can iterate it too."""

    def __init__(self, path, block_size):
        self.path, self.block_size = Path(path), int(block_size)
        self.ids = read_tokens(self.path)
        if len(self.ids) <= self.block_size:
            raise ValueError(f"TokenStream: {self.path} holds {len(self.ids)} tokens, needs more "
                             f"than block_size={self.block_size}")

    def __len__(self):
        return (len(self.ids) - 1) // self.block_size

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"TokenStream index {index} out of range for {len(self)} windows")
        start = (index % len(self)) * self.block_size
        chunk = np.asarray(self.ids[start:start + self.block_size + 1], dtype=np.int64)
        return chunk[:-1], chunk[1:]

    def get_batch(self, batch_size, rng=None):
        """(x, y): (batch_size, block_size) int64 arrays from random offsets; y = x shifted."""
        rng = rng if rng is not None else np.random.default_rng()
        starts = rng.integers(0, len(self.ids) - self.block_size - 1, size=batch_size)
        offsets = np.arange(self.block_size + 1)
        chunk = np.asarray(self.ids[starts[:, None] + offsets], dtype=np.int64)
        return chunk[:, :-1], chunk[:, 1:]


def encode_to_bins(text, folder, encoding, val_fraction=0.1, source=""):
    """Tokenize `text` (EOT appended), split, write train.bin / val.bin / meta.json."""
    ids = np.array(encoding.encode_ordinary(text) + [encoding.eot_token], dtype=np.int64)
    train, val = split_ids(ids, val_fraction)
    folder = Path(folder)
    meta = {"source": source, "tokenizer": encoding.name, "vocab_size": encoding.n_vocab,
            "val_fraction": val_fraction}
    for name, part in (("train", train), ("val", val)):
        path = write_tokens(folder / f"{name}.bin", part)
        meta[name] = {"tokens": len(part), "sha256": file_hash(path)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def prepare_shakespeare(root=DATA_ROOT, download=True, source="auto", force=False):
    """Shakespeare text -> GPT-2 tokens -> root/shakespeare/{train,val}.bin; returns meta."""
    from zoo.data.text import shakespeare
    from zoo.data.tokenizer import get_gpt2_encoding

    folder = Path(root) / "shakespeare"
    meta_path = folder / "meta.json"
    if meta_path.exists() and not force:
        return json.loads(meta_path.read_text())
    text, name = shakespeare(root, download=download, source=source)
    return encode_to_bins(text, folder, get_gpt2_encoding(root), source=name)


def prepare_fineweb(root=DATA_ROOT, max_tokens=10_000_000, val_tokens=500_000,
                    dataset="HuggingFaceFW/fineweb-edu", config="sample-10BT"):
    """Stream FineWeb-edu (or e.g. dataset="Skylion007/openwebtext", config=None) with
    `datasets`, tokenize documents (EOT before each) until max_tokens, write
    root/<name>/{train,val}.bin. For GPU users with network access; needs `datasets`."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise RuntimeError("prepare_fineweb needs `pip install datasets`") from e
    from tqdm import tqdm

    from zoo.data.tokenizer import get_gpt2_encoding

    enc = get_gpt2_encoding(root)
    stream = load_dataset(dataset, name=config, split="train", streaming=True)
    buf = np.empty(max_tokens, dtype=DTYPE)
    n = 0
    with tqdm(total=max_tokens, unit="tok", desc=dataset) as bar:
        for doc in stream:
            ids = [enc.eot_token] + enc.encode_ordinary(doc["text"])
            take = min(len(ids), max_tokens - n)
            buf[n:n + take] = ids[:take]
            n += take
            bar.update(take)
            if n >= max_tokens:
                break
    folder = Path(root) / dataset.split("/")[-1]
    write_tokens(folder / "val.bin", buf[:val_tokens])
    write_tokens(folder / "train.bin", buf[val_tokens:n])
    meta = {"source": dataset, "config": config, "tokenizer": "gpt2",
            "train": {"tokens": int(n - val_tokens)}, "val": {"tokens": int(val_tokens)}}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


class CharTokenizer:
    """Characters <-> ids over a fixed alphabet (sorted), as in char-rnn and nanoGPT's
    shakespeare_char. `decode(encode(s)) == s` for text over the alphabet.

        tok = CharTokenizer(sorted(set(text)))
        ids = tok.encode("ROMEO:")            # list of ints
    """

    def __init__(self, chars):
        self.chars = "".join(chars)
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("CharTokenizer: the alphabet repeats a character")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"CharTokenizer.encode: characters {unknown[:10]} are not in the "
                             f"{self.vocab_size}-character alphabet")
        return [self.index[c] for c in text]

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


def prepare_shakespeare_char(root=DATA_ROOT, download=True, val_fraction=0.1, force=False):
    """Shakespeare text -> character ids -> root/shakespeare_char/{train,val}.bin; the last
    `val_fraction` of the text is the held-out split. meta.json keeps the alphabet."""
    from zoo.data.text import shakespeare

    folder = Path(root) / "shakespeare_char"
    meta_path = folder / "meta.json"
    if meta_path.exists() and not force:
        return json.loads(meta_path.read_text())
    text, name = shakespeare(root, download=download)
    tok = CharTokenizer(sorted(set(text)))
    train, val = split_ids(np.array(tok.encode(text), dtype=np.int64), val_fraction)
    meta = {"source": name, "tokenizer": "char", "chars": tok.chars,
            "vocab_size": tok.vocab_size, "val_fraction": val_fraction}
    for split, part in (("train", train), ("val", val)):
        path = write_tokens(folder / f"{split}.bin", part)
        meta[split] = {"tokens": len(part), "sha256": file_hash(path)}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta
