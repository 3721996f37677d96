"""Fine-tuning: a pretrained GPT-2 or Llama-family model, the last N blocks unfrozen, AdamW +
cosine on Shakespeare, mytorch (through the Accelerator) vs PyTorch from the same weights
and batches. `make finetune-gpt2`, `make finetune-llama`."""
import json
import re
import sys
from pathlib import Path

import numpy as np

from experiments.finetune.config import FinetuneConfig
from experiments.harness import run_dir
from experiments.lm import TokenLMExperiment

DEFAULT_MODEL = {"gpt2": "gpt2", "llama": "smollm-135m"}
_BLOCK = re.compile(r"(?:^|\.)(?:h|layers)\.(\d+)\.")


def trainable(name, n_layer, unfrozen):
    """Whether parameter `name` trains: a block among the last `unfrozen`, or the final norm
    (per-block norms belong to their block). Embeddings and the head stay frozen."""
    match = _BLOCK.search(name)
    if match:
        return int(match.group(1)) >= n_layer - unfrozen
    return name.split(".")[-2:] == ["norm", "weight"] or "ln_f." in name


class FinetuneExperiment(TokenLMExperiment):
    Config = FinetuneConfig

    def __init__(self, family):
        self.family, self.name = family, f"finetune_{family}"
        self._folder = None

    # ---- where the weights come from
    def source(self, cfg):
        """(folder of the HF checkpoint, note); offline, a tiny random one saved here."""
        if self._folder is None:
            self._folder = self._resolve(cfg)
        return self._folder

    def _resolve(self, cfg):
        from zoo.hub import resolve_folder, resolve_gpt2
        name = cfg.model or DEFAULT_MODEL[self.family]
        try:
            if self.family == "gpt2":
                if Path(name).is_dir():
                    return Path(name), f"{name} (a local folder)"
                resolve_gpt2(name)  # raises when neither cached nor downloadable
                return name, f"{name} (pretrained)"
            return resolve_folder(name), f"{name} (pretrained)"
        except FileNotFoundError as e:
            folder = run_dir(self, cfg) / f"offline-tiny-{self.family}"
            if not (folder / "config.json").exists():
                save_tiny_checkpoint(self.family, folder, vocab_size=self._tiny_vocab())
            note = (f"OFFLINE: {name} is not available ({str(e).splitlines()[0][:160]}...); "
                    f"fine-tuning a tiny random checkpoint saved by transformers in {folder} "
                    "instead")
            print(note, file=sys.stderr)
            return folder, note

    def _tiny_vocab(self):
        if self.family == "gpt2":
            return 50257
        from zoo.data.tokens import prepare_shakespeare_char
        return prepare_shakespeare_char()["vocab_size"]

    def hf_config(self, cfg):
        folder, _ = self.source(cfg)
        if Path(folder).is_dir():
            return json.loads((Path(folder) / "config.json").read_text())
        from zoo.hub import resolve_gpt2
        return resolve_gpt2(folder)[1]

    def n_layer(self, cfg):
        hf = self.hf_config(cfg)
        return hf.get("num_hidden_layers", hf.get("n_layer"))

    # ---- data: Shakespeare in the checkpoint's tokens
    def load_data(self, cfg):
        from zoo.data.download import DATA_ROOT
        from zoo.data.tokens import TokenStream
        folder = DATA_ROOT / self.data_folder(cfg)
        return {"train": TokenStream(folder / "train.bin", cfg.block_size),
                "val": TokenStream(folder / "val.bin", cfg.block_size)}

    def data_folder(self, cfg):
        """Tokenize Shakespeare once per tokenizer: GPT-2 BPE, characters for the offline
        tiny Llama, else the checkpoint's tokenizer.json."""
        from zoo.data.tokens import prepare_shakespeare, prepare_shakespeare_char
        folder, note = self.source(cfg)
        if self.family == "gpt2":
            prepare_shakespeare()
            return "shakespeare"
        if note.startswith("OFFLINE"):
            prepare_shakespeare_char()
            return "shakespeare_char"
        return prepare_shakespeare_hf(Path(folder))

    # ---- models
    def build(self, lib, cfg):
        folder, _ = self.source(cfg)
        if lib.__name__ == "torch":
            from experiments.finetune.baseline import build_twin
            model = build_twin(self.family, folder, self.hf_config(cfg))
        elif self.family == "gpt2":
            from zoo.gpt2 import GPT2
            model = GPT2.from_pretrained(folder)
        else:
            from zoo.llama import Llama
            model = Llama.from_pretrained(folder)
        n = self.n_layer(cfg)
        for name, p in model.named_parameters():
            p.requires_grad_(trainable(name, n, cfg.unfrozen))
        return model

    def data_note(self, cfg):
        return (f"{self.source(cfg)[1]}; Shakespeare ({self.data_folder(cfg)}), "
                f"{cfg.batch}x{cfg.block_size} per step, last {cfg.unfrozen} blocks unfrozen")


def save_tiny_checkpoint(family, folder, vocab_size, seed=0):
    """A small random GPT-2 or Llama saved by transformers' save_pretrained (the offline
    stand-in for a pretrained model)."""
    import torch
    import transformers
    torch.manual_seed(seed)
    if family == "gpt2":
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=vocab_size, n_positions=256, n_embd=64, n_layer=4, n_head=4))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=vocab_size, hidden_size=64, intermediate_size=172, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
            tie_word_embeddings=True))
    model.save_pretrained(folder)
    return folder


def prepare_shakespeare_hf(folder):
    """Shakespeare in the tokens of the checkpoint's tokenizer.json, cached as
    data/shakespeare_<hash of tokenizer.json>/{train,val}.bin; returns the folder name."""
    import hashlib

    from zoo.data.download import DATA_ROOT
    from zoo.data.hf_tokenizer import HFTokenizer
    from zoo.data.text import shakespeare
    from zoo.data.tokens import split_ids, write_tokens
    digest = hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()[:12]
    name = f"shakespeare_{digest}"
    out = DATA_ROOT / name
    if not (out / "val.bin").exists():
        tok = HFTokenizer.from_folder(folder)
        if tok.vocab_size > 65536:
            raise ValueError(f"finetune: {folder}'s vocabulary ({tok.vocab_size}) does not fit "
                             "the uint16 token files")
        text, _ = shakespeare()
        train, val = split_ids(np.array(tok.encode(text, add_special_tokens=False)))
        write_tokens(out / "train.bin", train)
        write_tokens(out / "val.bin", val)
    return name
