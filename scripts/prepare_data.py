"""`make data`: fetch MNIST, Shakespeare and the GPT-2 vocabulary into data/ and tokenize
Shakespeare into uint16 train/val streams. Online sources first, offline fallbacks otherwise.

    python scripts/prepare_data.py [--root data] [--only mnist,text] [--fineweb 10000000]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.data import DATA_ROOT, MNIST, prepare_shakespeare
from zoo.data.tokenizer import get_gpt2_encoding
from zoo.data.tokens import prepare_fineweb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(DATA_ROOT), help="data folder (default: %(default)s)")
    ap.add_argument("--only", default="mnist,tokenizer,text",
                    help="comma-separated parts: mnist, tokenizer, text")
    ap.add_argument("--fineweb", type=int, default=0, metavar="TOKENS",
                    help="also stream this many FineWeb-edu tokens (needs network + datasets)")
    args = ap.parse_args(argv)
    parts = set(args.only.split(","))
    if "mnist" in parts:
        for train in (True, False):
            ds = MNIST(args.root, train=train, download=True)
            print(f"MNIST {'train' if train else 'test'}: {len(ds)} digits ({ds.source})")
    if "tokenizer" in parts:
        enc = get_gpt2_encoding(args.root)
        print(f"GPT-2 tokenizer: {enc.n_vocab} tokens")
    if "text" in parts:
        meta = prepare_shakespeare(args.root)
        print(f"Shakespeare ({meta['source']}): {meta['train']['tokens']} train / "
              f"{meta['val']['tokens']} val tokens in {Path(args.root) / 'shakespeare'}")
    if args.fineweb:
        meta = prepare_fineweb(args.root, max_tokens=args.fineweb)
        print(f"FineWeb-edu: {meta['train']['tokens']} train tokens")


if __name__ == "__main__":
    main()
