"""`make sample`: stream text from any language model of the zoo, continuing a prompt (wrapped
in the checkpoint's chat template when it has one).

    python scripts/sample.py --model gpt2-shakespeare-char --prompt "ROMEO:" -n 300
    python scripts/sample.py --model smollm-135m --prompt "The capital of France is"
    python scripts/sample.py --model qwen2.5-0.5b --prompt "Write a haiku about autumn."
    python scripts/sample.py --model /path/to/hf-folder
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mytorch
from zoo.lm import default_language_model, language_models, load_language_model, stream_text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help=f"a zoo name ({', '.join(language_models())}) or a Hugging Face "
                         "folder (GPT-2 or Llama family); default: gpt2-shakespeare-char when "
                         "shipped, else gpt2-shakespeare")
    ap.add_argument("--prompt", default="ROMEO:")
    ap.add_argument("-n", "--max-new-tokens", type=int, default=100)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--top-p", type=float, default=None)
    ap.add_argument("--chat", choices=["auto", "on", "off"], default="auto",
                    help="wrap the prompt in the chat template (auto: when there is one)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    try:
        model, tok = load_language_model(args.model or default_language_model(), args.device)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        raise SystemExit(f"sample: {e}") from None
    mytorch.manual_seed(args.seed)
    chat = {"auto": None, "on": True, "off": False}[args.chat]
    for i in range(args.samples):
        if args.samples > 1:
            print(f"--- sample {i + 1} ---")
        print(args.prompt, end="", flush=True)
        for piece in stream_text(model, tok, args.prompt, args.max_new_tokens, args.temperature,
                                 args.top_k, args.top_p, chat, args.device):
            print(piece, end="", flush=True)
        print()


if __name__ == "__main__":
    main()
