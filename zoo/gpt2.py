"""GPT-2: token + position embeddings, n_layer pre-norm transformer blocks, a final LayerNorm and
a language-model head tied to the token embedding. Parameter names equal Hugging Face's
(transformer.wte, transformer.h.0.attn.c_attn, ...), so OpenAI's weights load by key mapping.

    model = GPT2(GPTConfig.preset("tiny"))
    logits, loss = model(idx, targets)                  # idx, targets: (B, T) int64
    out = model.generate(idx, 50, temperature=0.8, top_k=40)
    model = GPT2.from_pretrained("gpt2")                # or a folder / model.safetensors path
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import mytorch
import mytorch.nn.functional as F
import mytorch.optim
from mytorch import nn
from zoo.generation import KVCache, attention_mask, stream_tokens

__all__ = ["GPT2", "GPTConfig", "KVCache"]


@dataclass
class GPTConfig:
    block_size: int = 1024      # longest sequence (number of learned positions)
    vocab_size: int = 50257     # GPT-2's BPE; 50304 (a multiple of 64) runs faster on GPUs
    n_layer: int = 12           # transformer blocks
    n_head: int = 12            # attention heads; n_embd must divide by it
    n_embd: int = 768           # width of the residual stream
    dropout: float = 0.0        # on embeddings, attention weights and residual branches
    bias: bool = True           # biases in Linear and LayerNorm layers (GPT-2 has them)
    layer_norm_epsilon: float = 1e-5

    # name -> overrides (a ClassVar, not a field). "tiny" trains on a CPU in minutes.
    PRESETS: ClassVar[dict] = {
        "tiny": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128},
        "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},           # 124M
        "gpt2-medium": {"n_layer": 24, "n_head": 16, "n_embd": 1024},   # 350M
        "gpt2-large": {"n_layer": 36, "n_head": 20, "n_embd": 1280},    # 774M
        "gpt2-xl": {"n_layer": 48, "n_head": 25, "n_embd": 1600},       # 1558M
    }

    @classmethod
    def preset(cls, name, **overrides):
        """GPTConfig of a named size, e.g. GPTConfig.preset("tiny", dropout=0.1)."""
        if name not in cls.PRESETS:
            raise ValueError(f"GPTConfig: unknown preset {name!r}; known: {sorted(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} is not divisible by "
                             f"n_head={self.n_head}")

    def to_dict(self):
        return dataclasses.asdict(self)



class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in (q, k, v))
        past = 0
        if cache is not None:
            past = 0 if cache.k is None else cache.k.shape[2]
            k, v = cache.append(k, v)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask(T, past, x.device),
                                           dropout_p=p, is_causal=past == 0)
        y = y.transpose(1, 2).reshape(B, T, C)  # re-assemble the heads
        return self.c_proj(y)  # its residual dropout is in Block, fused with the add


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        fc = self.c_fc
        if fc.bias is not None and (x.is_cuda or x.dtype == mytorch.float32):
            # On CUDA, and on the CPU in float32, the Linear's bias add and the GELU are one
            # fused kernel each way, which also sums the bias gradient (F.bias_gelu; the same
            # values as gelu(c_fc(x)), x W^T + b never stored).
            h = F.linear(x, fc.weight)
            h = F.bias_gelu(h, fc.bias.to(h.dtype), approximate="tanh")
        else:
            h = self.gelu(fc(x))
        return self.c_proj(h)  # its residual dropout is in Block, fused with the add


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        eps = config.layer_norm_epsilon
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=eps, bias=config.bias)
        self.mlp = MLP(config)
        self.dropout = config.dropout  # on both residual branches

    def forward(self, x, cache=None):
        # x + dropout(branch): one kernel each way on CUDA; on the CPU, x + F.dropout(branch)
        x = F.dropout_add(self.attn(self.ln_1(x), cache), x, self.dropout, self.training)
        return F.dropout_add(self.mlp(self.ln_2(x)), x, self.dropout, self.training)


class GPT2(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or GPTConfig()
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "drop": nn.Dropout(config.dropout),
            "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            "ln_f": nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied: one matrix, two uses
        self.reset_parameters()

    @mytorch.no_grad()
    def reset_parameters(self):
        """GPT-2's init: N(0, 0.02) weights, zero biases, residual projections scaled by
        1/sqrt(2 * n_layer) (two residual branches per block)."""
        proj_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                p.normal_(0.0, proj_std)
            elif name.endswith("weight") and p.ndim == 2:
                p.normal_(0.0, 0.02)
            elif name.endswith("bias"):
                p.zero_()
            else:  # LayerNorm gains
                p.fill_(1.0)

    def num_parameters(self, non_embedding=True):
        """Parameter count; the position embedding is left out by default (as GPT-2's paper)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache=None):
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None). With `targets`
        (B, T; -1 = ignored) the loss is the mean cross-entropy. `kv_cache` (a KVCache) makes
        idx continue the cached tokens."""
        B, T = idx.shape
        past = 0 if kv_cache is None else len(kv_cache)
        if past + T > self.config.block_size:
            raise ValueError(f"GPT2: sequence of {past + T} tokens is longer than block_size="
                             f"{self.config.block_size}")
        pos = mytorch.arange(past, past + T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        caches = kv_cache.layers if kv_cache is not None else [None] * self.config.n_layer
        for block, cache in zip(self.transformer.h, caches):
            x = block(x, cache)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T),
                               ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay=0.1, learning_rate=6e-4, betas=(0.9, 0.95),
                             eps=1e-8):
        """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only -- none on
        biases and LayerNorm gains."""
        params = list(self.parameters())
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return mytorch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps)

    @mytorch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 use_cache=True):
        """Append max_new_tokens sampled tokens to idx (B, T). temperature 0 is greedy;
        top_k / top_p keep the k likeliest tokens / the nucleus of mass p. Samples from
        mytorch's RNG (manual_seed)."""
        new = list(self.stream(idx, max_new_tokens, temperature, top_k, top_p, use_cache))
        return mytorch.cat([idx, *new], dim=1)

    @mytorch.no_grad()
    def stream(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
               use_cache=True):
        """Yield the (B, 1) sampled tokens one at a time (generate's loop, for streaming)."""
        yield from stream_tokens(self, idx, max_new_tokens, self.config.block_size,
                                 self.config.n_layer, temperature, top_k, top_p, use_cache)

    # ---- loading Hugging Face / our own checkpoints ----

    @classmethod
    def from_pretrained(cls, path_or_name, config=None, device="cpu", **overrides):
        """Load GPT-2 weights from a Hugging Face `model.safetensors` (a file, a folder holding
        it and config.json, or a model name such as "gpt2" found in the HF cache or fetched
        with huggingface_hub). Conv1D weights are transposed into Linear's layout."""
        from zoo.hub import resolve_gpt2
        weights, hf_config = resolve_gpt2(path_or_name)
        if config is None:
            config = _config_from_hf(hf_config, weights, path_or_name)
        config = dataclasses.replace(config, **overrides)
        model = cls(config)
        model.load_state_dict(hf_to_state_dict(weights, model))
        return model.to(device)


_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_IGNORED = (".attn.bias", ".attn.masked_bias")  # HF's causal-mask buffers


def hf_to_state_dict(weights, model):
    """Hugging Face GPT-2 tensors (numpy, keys with or without `transformer.`) -> our state
    dict: Conv1D (in, out) weights transposed to Linear's (out, in), mask buffers dropped,
    lm_head taken from the tied wte."""
    out = {}
    for key, w in weights.items():
        if key.endswith(_IGNORED) or key == "lm_head.weight":
            continue
        name = key if key.startswith("transformer.") else "transformer." + key
        out[name] = np.ascontiguousarray(w.T) if name.endswith(_CONV1D) else w
    out["lm_head.weight"] = out["transformer.wte.weight"]
    expected = set(model.state_dict())
    missing, unexpected = expected - set(out), set(out) - expected
    if missing or unexpected:
        raise RuntimeError(f"GPT2.from_pretrained: checkpoint keys do not match the model; "
                           f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return out


def _config_from_hf(hf, weights, source):
    """GPTConfig from a Hugging Face config.json dict, else from the tensor shapes."""
    if hf:
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"GPT2.from_pretrained: activation {act!r} is not GPT-2's tanh GELU")
        return GPTConfig(block_size=hf["n_positions"], vocab_size=hf["vocab_size"],
                         n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"],
                         layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5))
    strip = {k.removeprefix("transformer."): v for k, v in weights.items()}
    vocab, n_embd = strip["wte.weight"].shape
    n_layer = 1 + max(int(k.split(".")[1]) for k in strip if k.startswith("h."))
    heads = {768: 12, 1024: 16, 1280: 20, 1600: 25}
    if n_embd not in heads:
        raise ValueError(f"GPT2.from_pretrained: {source} has no config.json and n_embd="
                         f"{n_embd} is not a GPT-2 size; pass config=GPTConfig(...)")
    return GPTConfig(block_size=strip["wpe.weight"].shape[0], vocab_size=vocab,
                     n_layer=n_layer, n_head=heads[n_embd], n_embd=n_embd)

