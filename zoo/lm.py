"""Every language model of the zoo behind one call, with its tokenizer, for sampling and
fine-tuning: zoo names (gpt2-shakespeare, gpt2-shakespeare-char, gpt2, smollm-135m, ...) and
Hugging Face folders (GPT-2 or Llama-family, told apart by config.json's model_type).

    model, tok = load_language_model("smollm-135m")
    for piece in stream_text(model, tok, "Once upon a time", max_new_tokens=40):
        print(piece, end="", flush=True)
"""
import json
from pathlib import Path

import mytorch


class GPT2Tokenizer:
    """tiktoken's gpt2 encoding with the interface of HFTokenizer (encode / decode / eos)."""

    chat_template = None

    def __init__(self):
        from zoo.data.tokenizer import EOT, get_gpt2_encoding
        self.encoding, self.eos_token_id = get_gpt2_encoding(), EOT

    def encode(self, text, add_special_tokens=True):
        return self.encoding.encode(text, allowed_special="all") or [self.eos_token_id]

    def decode(self, ids, skip_special_tokens=True):
        return self.encoding.decode(list(ids))


class CharTokenizerAdapter:
    """A CharTokenizer with HFTokenizer's interface (no special tokens)."""

    chat_template = None
    eos_token_id = None

    def __init__(self, chars):
        from zoo.data.tokens import CharTokenizer
        self.chars = CharTokenizer(chars)

    def encode(self, text, add_special_tokens=True):
        return self.chars.encode(text)

    def decode(self, ids, skip_special_tokens=True):
        return self.chars.decode(ids)


def load_language_model(name_or_path, device="cpu"):
    """(model in eval mode, tokenizer) for a zoo name or a Hugging Face folder."""
    from zoo import registry
    from zoo.data.hf_tokenizer import HFTokenizer
    from zoo.gpt2 import GPT2
    from zoo.hub import resolve_folder
    from zoo.llama import Llama

    name = str(name_or_path)
    if name in registry.REGISTRY:
        entry = registry.REGISTRY[name]
        if entry.family == "llama":
            folder = resolve_folder(name)
            return (Llama.from_pretrained(folder, device=device).eval(),
                    HFTokenizer.from_folder(folder))
        if not _is_lm(entry):
            raise ValueError(f"load_language_model: {name!r} is not a language model")
        model = registry.load(name, device=device)
        if name == "gpt2-shakespeare-char":
            return model, CharTokenizerAdapter(registry.card(name).chars)
        return model, GPT2Tokenizer()
    path = Path(name)
    config = path / "config.json"
    if not config.exists():
        raise FileNotFoundError(f"load_language_model: {name!r} is neither a zoo language model "
                                f"({', '.join(language_models())}) nor a Hugging Face folder")
    if json.loads(config.read_text()).get("model_type") == "gpt2":
        tok = HFTokenizer.from_folder(path) if (path / "tokenizer.json").exists() else \
            GPT2Tokenizer()
        return GPT2.from_pretrained(path, device=device).eval(), tok
    return Llama.from_pretrained(path, device=device).eval(), HFTokenizer.from_folder(path)


def _is_lm(entry):
    return entry.family == "llama" or entry.name.startswith("gpt2")


def language_models():
    """Zoo names load_language_model accepts."""
    from zoo import registry
    return [n for n, e in registry.REGISTRY.items() if _is_lm(e)]


def default_language_model():
    """The shipped character-level Shakespeare model when present, else gpt2-shakespeare."""
    from zoo import registry
    shipped = registry.REGISTRY["gpt2-shakespeare-char"].checkpoint.exists()
    return "gpt2-shakespeare-char" if shipped else "gpt2-shakespeare"


def prompt_ids(tok, prompt, chat=None):
    """Token ids of `prompt`; with `chat` (default: when the tokenizer has a chat template)
    the prompt is wrapped as one user message in the checkpoint's chat template."""
    chat = bool(tok.chat_template) if chat is None else chat
    if chat:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}])
        return tok.encode(text, add_special_tokens=False)
    return tok.encode(prompt)


def stream_text(model, tok, prompt, max_new_tokens=50, temperature=0.8, top_k=40, top_p=None,
                chat=None, device="cpu"):
    """Yield the continuation of `prompt` as text pieces, as tokens are sampled. Pieces are
    decoded after the prompt's tokens so that joining spaces come out right; a token that
    ends in the middle of a multi-byte character is held back until the character is whole."""
    ids = prompt_ids(tok, prompt, chat)
    idx = mytorch.tensor([ids], device=device)
    kwargs = {"eos_token_id": tok.eos_token_id} if hasattr(model.config, "rope_theta") else {}
    base = tok.decode(ids)
    new, shown = [], 0
    for token in model.stream(idx, max_new_tokens, temperature=temperature, top_k=top_k,
                              top_p=top_p, **kwargs):
        new.append(int(token.numpy()[0, 0]))
        text = tok.decode(ids + new)
        text = text[len(base):] if text.startswith(base) else tok.decode(new)
        if text.endswith("\ufffd"):
            continue
        yield text[shown:]
        shown = len(text)
