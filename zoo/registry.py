"""The model registry: name -> builder, shipped checkpoint (safetensors, sha256-checked) and
model card (the command that produced the weights, data, steps, wall time, hardware, metrics).

A shipped checkpoint `zoo/checkpoints/<name>.safetensors` sits beside `<name>.json`, the card's
facts; `zoo/cards/<name>.md` is the card rendered for people.
"""
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.download import file_hash
from zoo.hub import LLAMA_REPOS

ZOO = Path(__file__).resolve().parent
CHECKPOINTS = ZOO / "checkpoints"
CARDS = ZOO / "cards"


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    build: Callable                     # dict of config fields -> an untrained nn.Module
    make_target: str | None = None   # the command that trains and ships the checkpoint
    hf_name: str | None = None       # weights come from Hugging Face (zoo.hub resolves it)
    family: str = "gpt2"             # "gpt2" or "llama": the class that loads hf_name

    @property
    def checkpoint(self):
        return None if self.hf_name else CHECKPOINTS / f"{self.name}.safetensors"


def _mlp(cfg):
    from zoo.mlp import MLPConfig, MnistMLP
    return MnistMLP(MLPConfig(**_tuples(cfg)))


def _convnet(cfg):
    from zoo.convnet import ConvNet, ConvNetConfig
    return ConvNet(ConvNetConfig(**_tuples(cfg)))


def _gpt2(preset):
    def build(cfg):
        from zoo.gpt2 import GPT2, GPTConfig
        return GPT2(GPTConfig.preset(preset, **cfg) if preset else GPTConfig(**cfg))
    return build


def _llama(preset):
    def build(cfg):
        from zoo.llama import Llama, LlamaConfig
        return Llama(LlamaConfig.preset(preset, **cfg))
    return build


def _tuples(cfg):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}


REGISTRY = {e.name: e for e in [
    Entry("mnist-mlp", "The design document's 784-128-64-32-10 sigmoid MLP on MNIST digits.",
          _mlp, make_target="python -m zoo.train mnist-mlp --ship (the card has the options)"),
    Entry("convnet", "Conv-BatchNorm-ReLU-Dropout blocks, adaptive average pooling and a linear "
          "head, on MNIST digits.", _convnet,
          make_target="python -m zoo.train convnet --ship (the card has the options)"),
    Entry("gpt2-shakespeare", "A small GPT-2 (GPT-2 BPE tokens) trained on Shakespeare.",
          _gpt2(None), make_target="make train-gpt2-bpe"),
    Entry("gpt2-shakespeare-char", "GPT-2's architecture on Shakespeare's characters.",
          _gpt2(None), make_target="make train-gpt2-char"),
    *[Entry(n, f"OpenAI's GPT-2 ({size}), weights from Hugging Face.", _gpt2(n), hf_name=n)
      for n, size in [("gpt2", "124M"), ("gpt2-medium", "350M"), ("gpt2-large", "774M"),
                      ("gpt2-xl", "1558M")]],
    *[Entry(n, f"{what}, weights from Hugging Face ({LLAMA_REPOS[n]}).", _llama(n),
            hf_name=n, family="llama")
      for n, what in [("smollm-135m", "SmolLM 135M (Llama architecture)"),
                      ("smollm-360m", "SmolLM 360M (Llama architecture)"),
                      ("tinyllama-1.1b", "TinyLlama 1.1B chat"),
                      ("qwen2.5-0.5b", "Qwen2.5 0.5B instruct (attention biases)"),
                      ("llama-3.2-1b", "Llama 3.2 1B (gated: accept Meta's license on the Hub)")]],
]}


def pretrained_class(entry):
    """The model class whose from_pretrained loads `entry.hf_name`."""
    if entry.family == "llama":
        from zoo.llama import Llama
        return Llama
    from zoo.gpt2 import GPT2
    return GPT2


@dataclass
class ModelCard:
    """Facts about a checkpoint; str() renders the Markdown card."""
    name: str
    description: str
    file: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    model_config: dict = dataclasses.field(default_factory=dict)
    command: str | None = None
    data: str | None = None
    steps: int | None = None
    wall_time_s: float | None = None
    hardware: str | None = None
    metrics: dict = dataclasses.field(default_factory=dict)
    eval: str | None = None          # what the metrics were measured on
    notes: str | None = None
    chars: str | None = None         # a character-level model's alphabet (id i = chars[i])

    def __str__(self):
        rows = [("checkpoint", f"`{self.file}`" if self.file else None),
                ("sha256", f"`{self.sha256}`" if self.sha256 else None),
                ("size", f"{self.size_bytes / 1e6:.2f} MB" if self.size_bytes else None),
                ("command", f"`{self.command}`" if self.command else None),
                ("data", self.data), ("steps", self.steps),
                ("wall time", f"{self.wall_time_s:.0f} s" if self.wall_time_s else None),
                ("hardware", self.hardware), ("evaluated on", self.eval),
                ("alphabet", f"`{json.dumps(self.chars)}`" if self.chars else None)]
        lines = [f"# {self.name}", "", self.description, "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows if v is not None]
        if self.metrics:
            lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                      for k, v in self.metrics.items()]
        if self.model_config:
            lines += ["", "## Config", "", "```json", json.dumps(self.model_config, indent=2),
                      "```"]
        if self.notes:
            lines += ["", self.notes]
        return "\n".join(lines) + "\n"


def _entry(name):
    if name not in REGISTRY:
        raise KeyError(f"zoo: unknown model {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def list_models():
    """Names of every registered model."""
    return list(REGISTRY)


def card(name):
    """The ModelCard of `name` (facts from zoo/checkpoints/<name>.json when shipped)."""
    entry = _entry(name)
    path = CHECKPOINTS / f"{name}.json"
    if path.exists():
        facts = json.loads(path.read_text())
        facts.pop("name", None)
        facts.setdefault("description", entry.description)
        return ModelCard(name=name, **facts)
    return ModelCard(name=name, description=entry.description, command=entry.make_target)


def read_checkpoint(name):
    """The tensors (numpy) of a shipped checkpoint after checking its sha256 against its card."""
    from safetensors.numpy import load_file
    entry = _entry(name)
    path, facts = entry.checkpoint, card(name)
    if path is None or not path.exists() or facts.sha256 is None:
        how = entry.make_target or "its training command"
        raise FileNotFoundError(f"zoo: no shipped checkpoint for {name!r} ({path}); produce it "
                                f"with `{how}`")
    got = file_hash(path)
    if got != facts.sha256:
        raise ValueError(f"zoo: {path} has sha256 {got}, its card says {facts.sha256}; the "
                         "file is corrupt or was replaced without updating the card")
    return load_file(str(path))


def load(name, pretrained=True, device="cpu", **config):
    """Build model `name`; with `pretrained` load its weights (shipped checkpoint, or
    OpenAI's for the gpt2 sizes) and put it in eval mode. `config` overrides fields of the
    model's config (untrained models only)."""
    entry = _entry(name)
    if entry.hf_name and pretrained:
        return pretrained_class(entry).from_pretrained(entry.hf_name, device=device).eval()
    if not pretrained:
        return entry.build(config).to(device)
    if config:
        raise ValueError(f"zoo.load: config overrides {sorted(config)} apply only with "
                         "pretrained=False")
    state = read_checkpoint(name)
    model = entry.build(card(name).model_config)
    if "lm_head.weight" not in state and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]  # tied, stored once
    model.load_state_dict(state)
    return model.to(device).eval()


def ship(name, model, dtype=None, **facts):
    """Save `model` as the shipped checkpoint of `name` and write its card (json + md).
    `facts`: command, data, steps, wall_time_s, hardware, metrics, eval, notes. `dtype`
    (e.g. np.float16) shrinks float tensors on disk; loading casts them back."""
    from safetensors.numpy import save_file
    entry = _entry(name)
    if entry.hf_name:
        raise ValueError(f"zoo.ship: {name!r} comes from Hugging Face; its weights are not "
                         "shipped here")
    state = {k: np.array(v.numpy(), order="C") for k, v in model.state_dict().items()}
    if "lm_head.weight" in state and "transformer.wte.weight" in state:
        del state["lm_head.weight"]  # tied to wte: store once
    if dtype is not None:
        state = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in state.items()}
    CHECKPOINTS.mkdir(exist_ok=True)
    path = entry.checkpoint
    save_file(state, str(path), metadata={"model": name, "format": "mytorch-zoo"})
    config = dataclasses.asdict(model.config) if hasattr(model, "config") else {}
    mc = ModelCard(name=name, description=entry.description, file=path.name,
                   sha256=file_hash(path), size_bytes=path.stat().st_size,
                   model_config=config, **facts)
    (CHECKPOINTS / f"{name}.json").write_text(json.dumps(dataclasses.asdict(mc), indent=2) + "\n")
    CARDS.mkdir(exist_ok=True)
    (CARDS / f"{name}.md").write_text(str(mc))
    return mc
