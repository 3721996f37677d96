"""`make sample-gpt2`: print text from a pretrained GPT-2 of the zoo, continuing a prompt.

    python scripts/sample_gpt2.py --model gpt2 --prompt "Hello, I'm a language model," -n 40
    python scripts/sample_gpt2.py --model gpt2-shakespeare --prompt "ROMEO:"
    python scripts/sample_gpt2.py --model /path/to/hf-folder-or-model.safetensors
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mytorch
import zoo
from zoo.data.tokenizer import get_gpt2_encoding
from zoo.gpt2 import GPT2


def _load(name, device):
    if name in zoo.REGISTRY:
        return zoo.load(name, device=device)
    return GPT2.from_pretrained(name, device=device).eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help="a zoo name (gpt2, gpt2-medium, ..., gpt2-shakespeare) or a path to "
                         "Hugging Face GPT-2 weights (default: gpt2 when its weights are found, "
                         "else the shipped gpt2-shakespeare)")
    ap.add_argument("--prompt", default="Hello, I'm a language model,")
    ap.add_argument("-n", "--max-new-tokens", type=int, default=50)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    try:
        model = _load(args.model or "gpt2", args.device)
    except (FileNotFoundError, RuntimeError) as e:
        if args.model is not None:
            raise SystemExit(f"sample_gpt2: {e}") from None
        print("sample_gpt2: OpenAI's gpt2 weights not found (see `--model gpt2`); sampling the "
              "shipped gpt2-shakespeare instead", file=sys.stderr)
        model = _load("gpt2-shakespeare", args.device)
    enc = get_gpt2_encoding()
    mytorch.manual_seed(args.seed)
    ids = enc.encode(args.prompt, allowed_special="all") or [enc.eot_token]
    idx = mytorch.tensor([ids] * args.samples, device=args.device)
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature,
                         top_k=args.top_k)
    for i, row in enumerate(out.numpy().tolist()):
        print(f"--- sample {i + 1} ---" if args.samples > 1 else "", end="\n" * (args.samples > 1))
        print(enc.decode(row))


if __name__ == "__main__":
    main()
