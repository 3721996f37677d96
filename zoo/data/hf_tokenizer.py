"""Tokenizers of Hugging Face checkpoints: `tokenizer.json` through the `tokenizers` library,
special tokens and the chat template from `tokenizer_config.json`.

    tok = HFTokenizer.from_folder("data/hf/smollm-135m")
    ids = tok.encode("To be, or not to be")
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}])  # when it has one
"""
import json
from pathlib import Path


class HFTokenizer:
    def __init__(self, tokenizer, config=None):
        self.tokenizer = tokenizer
        self.config = config or {}
        self.chat_template = self.config.get("chat_template")
        if isinstance(self.chat_template, list):  # [{"name": "default", "template": ...}, ...]
            named = {t["name"]: t["template"] for t in self.chat_template}
            self.chat_template = named.get("default", next(iter(named.values()), None))

    @classmethod
    def from_folder(cls, folder):
        """Read folder/tokenizer.json (required) and folder/tokenizer_config.json (optional;
        a chat_template.jinja file beside it counts as the chat template too)."""
        from tokenizers import Tokenizer
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.exists():
            raise FileNotFoundError(f"HFTokenizer: {folder} has no tokenizer.json")
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        jinja = folder / "chat_template.jinja"
        if "chat_template" not in config and jinja.exists():
            config["chat_template"] = jinja.read_text()
        return cls(Tokenizer.from_file(str(path)), config)

    def _special(self, name):
        token = self.config.get(name)
        return token.get("content") if isinstance(token, dict) else token

    @property
    def bos_token(self):
        return self._special("bos_token")

    @property
    def eos_token(self):
        return self._special("eos_token")

    @property
    def eos_token_id(self):
        return None if self.eos_token is None else self.tokenizer.token_to_id(self.eos_token)

    @property
    def vocab_size(self):
        return self.tokenizer.get_vocab_size()

    def encode(self, text, add_special_tokens=True):
        """Token ids of `text`; add_special_tokens adds what the tokenizer's post-processor
        adds (e.g. Llama's BOS). A chat-templated prompt already carries its special tokens."""
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids, skip_special_tokens=True):
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages, add_generation_prompt=True):
        """Render [{"role": ..., "content": ...}, ...] with the checkpoint's Jinja chat
        template (sandboxed, as transformers does). Raises if there is none."""
        if not self.chat_template:
            raise ValueError("HFTokenizer: this tokenizer has no chat_template")
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "", eos_token=self.eos_token or "")
