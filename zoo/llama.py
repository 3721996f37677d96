"""Llama: token embedding, n pre-norm blocks of grouped-query attention with rotary position
embeddings (RoPE) and a SwiGLU MLP, RMSNorm throughout, and a language-model head (tied to the
embedding or not). The same file covers SmolLM, TinyLlama, Llama 3.x and Qwen2 (attention
biases), whose Hugging Face checkpoints load by one name table (HF_NAMES).

    model = Llama(LlamaConfig.preset("tiny"))
    logits, loss = model(idx, targets)                  # idx, targets: (B, T) int64
    out = model.generate(idx, 50, temperature=0.7, top_p=0.9)
    model = Llama.from_pretrained("smollm-135m")        # or a Hugging Face folder
"""
import dataclasses
import math
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import mytorch
import mytorch.nn.functional as F
import mytorch.optim
from mytorch import nn
from zoo.generation import attention_mask, stream_tokens


@dataclass
class LlamaConfig:
    # Field names are Hugging Face's (config.json), so a checkpoint's config maps one to one.
    vocab_size: int = 32000
    hidden_size: int = 2048            # width of the residual stream
    intermediate_size: int = 5632      # width of the SwiGLU MLP
    num_hidden_layers: int = 22        # transformer blocks
    num_attention_heads: int = 32      # query heads
    num_key_value_heads: int | None = None  # key/value heads (grouped-query); None = all
    head_dim: int | None = None        # None = hidden_size // num_attention_heads
    max_position_embeddings: int = 2048  # longest sequence generate() keeps in its window
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0        # RoPE base
    rope_scaling: dict | None = None   # {"rope_type": "llama3" | "linear", "factor": ...}
    attention_bias: bool = False       # biases on q, k, v (Qwen2 and Llama's attention_bias)
    attention_out_bias: bool = False   # bias on the output projection (Llama's attention_bias)
    tie_word_embeddings: bool = False  # lm_head shares the embedding matrix
    dropout: float = 0.0               # on attention weights (training only)

    # name -> fields (a ClassVar, not a field). "tiny" trains on a CPU; the rest are the
    # public checkpoints' shapes.
    PRESETS: ClassVar[dict] = {
        "tiny": {"vocab_size": 256, "hidden_size": 128, "intermediate_size": 344,
                 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "max_position_embeddings": 256, "tie_word_embeddings": True},
        "smollm-135m": {"vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
                        "num_hidden_layers": 30, "num_attention_heads": 9,
                        "num_key_value_heads": 3, "tie_word_embeddings": True},
        "smollm-360m": {"vocab_size": 49152, "hidden_size": 960, "intermediate_size": 2560,
                        "num_hidden_layers": 32, "num_attention_heads": 15,
                        "num_key_value_heads": 5, "tie_word_embeddings": True},
        "tinyllama-1.1b": {"num_key_value_heads": 4},
        "qwen2.5-0.5b": {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                         "num_hidden_layers": 24, "num_attention_heads": 14,
                         "num_key_value_heads": 2, "max_position_embeddings": 32768,
                         "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                         "attention_bias": True, "tie_word_embeddings": True},
        "llama-3.2-1b": {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
                         "num_hidden_layers": 16, "num_attention_heads": 32,
                         "num_key_value_heads": 8, "max_position_embeddings": 131072,
                         "rope_theta": 500000.0, "tie_word_embeddings": True,
                         "rope_scaling": {"rope_type": "llama3", "factor": 32.0,
                                          "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 8192}},
    }

    @classmethod
    def preset(cls, name, **overrides):
        """LlamaConfig of a named size, e.g. LlamaConfig.preset("tiny", vocab_size=65)."""
        if name not in cls.PRESETS:
            raise ValueError(f"LlamaConfig: unknown preset {name!r}; known: {sorted(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def __post_init__(self):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(f"LlamaConfig: hidden_size={self.hidden_size} is not divisible "
                                 f"by num_attention_heads={self.num_attention_heads}")
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"LlamaConfig: num_attention_heads={self.num_attention_heads} is "
                             f"not a multiple of num_key_value_heads={self.num_key_value_heads}")
        if self.head_dim % 2:
            raise ValueError(f"LlamaConfig: RoPE needs an even head_dim, got {self.head_dim}")
        rope_inv_freq(self)  # reject unknown rope_scaling early

    def to_dict(self):
        return dataclasses.asdict(self)


def rope_inv_freq(config):
    """RoPE's (head_dim / 2,) rotation frequencies in float64, with `rope_scaling` applied:
    "linear" divides them by factor; "llama3" divides only the low frequencies (long
    wavelengths) by factor and blends smoothly between low_freq_factor and high_freq_factor."""
    d = config.head_dim
    inv_freq = 1.0 / config.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    scaling = dict(config.rope_scaling or {})
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind != "llama3":
        raise ValueError(f"LlamaConfig: rope_scaling type {kind!r} is not supported "
                         "(default, linear, llama3)")
    factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    smooth = (old_len / wavelen - lo) / (hi - lo)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = np.where(wavelen > old_len / lo, inv_freq / factor, inv_freq)  # low frequencies
    medium = (wavelen >= old_len / hi) & (wavelen <= old_len / lo)
    return np.where(medium, blended, out)


def rope_tables(inv_freq, start, T, device, dtype):
    """cos and sin (T, head_dim) for positions start..start+T-1, halves repeated to match
    rotate_half's layout (the first half of a head pairs with the second)."""
    angles = np.outer(np.arange(start, start + T, dtype=np.float64), inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    return (mytorch.tensor(np.cos(angles).astype(dtype), device=device),
            mytorch.tensor(np.sin(angles).astype(dtype), device=device))


def apply_rope(x, cos, sin):
    """Rotate (B, H, T, D) queries or keys by position: x * cos + rotate_half(x) * sin."""
    half = x.shape[-1] // 2
    rotated = mytorch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head, self.n_kv_head = config.num_attention_heads, config.num_key_value_heads
        self.head_dim, self.dropout = config.head_dim, config.dropout
        C, D = config.hidden_size, config.head_dim
        self.wq = nn.Linear(C, self.n_head * D, bias=config.attention_bias)
        self.wk = nn.Linear(C, self.n_kv_head * D, bias=config.attention_bias)
        self.wv = nn.Linear(C, self.n_kv_head * D, bias=config.attention_bias)
        self.wo = nn.Linear(self.n_head * D, C, bias=config.attention_out_bias)

    def forward(self, x, cos, sin, cache=None):
        B, T, _ = x.shape
        # (B, T, heads * D) -> (B, heads, T, D)
        q = self.wq(x).reshape(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.wk(x).reshape(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.wv(x).reshape(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        past = 0
        if cache is not None:  # the cache keeps the n_kv_head heads, rotated
            past = len(cache)
            k, v = cache.append(k, v)
        k, v = self._repeat_kv(k), self._repeat_kv(v)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask(T, past, x.device),
                                           dropout_p=p, is_causal=past == 0)
        return self.wo(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))

    def _repeat_kv(self, t):
        """(B, n_kv_head, S, D) -> (B, n_head, S, D): each key/value head serves
        n_head / n_kv_head query heads."""
        rep = self.n_head // self.n_kv_head
        if rep == 1:
            return t
        B, H, S, D = t.shape
        return t[:, :, None].expand(B, H, rep, S, D).reshape(B, H * rep, S, D)


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, config):
        super().__init__()
        C, H = config.hidden_size, config.intermediate_size
        self.w1 = nn.Linear(C, H, bias=False)  # gate
        self.w2 = nn.Linear(H, C, bias=False)  # down
        self.w3 = nn.Linear(C, H, bias=False)  # up

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention_norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.attention(self.attention_norm(x), cos, sin, cache)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or LlamaConfig.preset("tiny")
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([Block(config) for _ in range(config.num_hidden_layers)])
        self.norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.output = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.output.weight = self.tok_embeddings.weight  # one matrix, two uses
        self.inv_freq = rope_inv_freq(config)
        self.reset_parameters()

    @mytorch.no_grad()
    def reset_parameters(self):
        """Llama's init (Hugging Face's): N(0, 0.02) weights, zero biases, unit RMSNorm gains."""
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None, kv_cache=None):
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None). With `targets`
        (B, T; -100 or -1 = ignored) the loss is the mean cross-entropy. `kv_cache` (a
        KVCache) makes idx continue the cached tokens."""
        B, T = idx.shape
        past = 0 if kv_cache is None else len(kv_cache)
        x = self.tok_embeddings(idx)
        cos, sin = rope_tables(self.inv_freq, past, T, idx.device, x.data.dtype)
        caches = kv_cache.layers if kv_cache is not None else [None] * len(self.layers)
        for block, cache in zip(self.layers, caches):
            x = block(x, cos, sin, cache)
        logits = self.output(self.norm(x))
        if targets is None:
            return logits, None
        targets = targets.reshape(B * T)
        targets = mytorch.where(targets == -100, mytorch.full_like(targets, -1), targets)
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets, ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay=0.1, learning_rate=3e-4, betas=(0.9, 0.95),
                             eps=1e-8, params=None):
        """AdamW with weight decay on the 2-D weights only (not on norms or biases);
        `params` restricts it to those (e.g. the unfrozen ones)."""
        params = [p for p in (params if params is not None else self.parameters())]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return mytorch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps)

    @mytorch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 eos_token_id=None):
        """Append up to max_new_tokens sampled tokens to idx (B, T), reading it once and then
        one token at a time through a KV cache. temperature 0 is greedy; top_k / top_p keep
        the k likeliest tokens / the nucleus of mass p. Stops early when every row has
        produced `eos_token_id` (an int or a list of ints)."""
        new = list(self.stream(idx, max_new_tokens, temperature, top_k, top_p, eos_token_id))
        return mytorch.cat([idx, *new], dim=1)

    @mytorch.no_grad()
    def stream(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
               eos_token_id=None):
        """Yield the (B, 1) sampled tokens one at a time (generate's loop, for streaming)."""
        yield from stream_tokens(self, idx, max_new_tokens, self.config.max_position_embeddings,
                                 len(self.layers), temperature, top_k, top_p,
                                 eos_token_id=eos_token_id)

    # ---- loading Hugging Face checkpoints ----

    @classmethod
    def from_pretrained(cls, path_or_name, device="cpu", **overrides):
        """Load a Hugging Face Llama / Qwen2 / Mistral-style checkpoint: a folder (config.json
        with model.safetensors, or shards listed in model.safetensors.index.json) or a zoo
        name (e.g. "smollm-135m") found in data/hf/, the HF cache or, online, the Hub.
        bfloat16 and float16 weights are upcast to float32."""
        from zoo.hub import read_checkpoint_folder, resolve_folder
        folder = resolve_folder(path_or_name)
        weights, hf_config = read_checkpoint_folder(folder)
        config = dataclasses.replace(config_from_hf(hf_config, folder), **overrides)
        model = cls(config)
        model.load_state_dict(hf_to_state_dict(weights, model))
        return model.to(device)


# Hugging Face parameter name -> ours; "{i}" is the block index.
HF_NAMES = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
    "model.layers.{i}.input_layernorm.weight": "layers.{i}.attention_norm.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "layers.{i}.ffn_norm.weight",
    "model.layers.{i}.self_attn.q_proj.weight": "layers.{i}.attention.wq.weight",
    "model.layers.{i}.self_attn.k_proj.weight": "layers.{i}.attention.wk.weight",
    "model.layers.{i}.self_attn.v_proj.weight": "layers.{i}.attention.wv.weight",
    "model.layers.{i}.self_attn.o_proj.weight": "layers.{i}.attention.wo.weight",
    "model.layers.{i}.self_attn.q_proj.bias": "layers.{i}.attention.wq.bias",
    "model.layers.{i}.self_attn.k_proj.bias": "layers.{i}.attention.wk.bias",
    "model.layers.{i}.self_attn.v_proj.bias": "layers.{i}.attention.wv.bias",
    "model.layers.{i}.self_attn.o_proj.bias": "layers.{i}.attention.wo.bias",
    "model.layers.{i}.mlp.gate_proj.weight": "layers.{i}.feed_forward.w1.weight",
    "model.layers.{i}.mlp.down_proj.weight": "layers.{i}.feed_forward.w2.weight",
    "model.layers.{i}.mlp.up_proj.weight": "layers.{i}.feed_forward.w3.weight",
}
_LAYER = re.compile(r"\.(\d+)\.")


def hf_to_state_dict(weights, model):
    """Hugging Face tensors (numpy) -> our state dict by HF_NAMES; a tied model's head comes
    from the embedding. Raises naming the keys that do not match."""
    out, unknown = {}, []
    for key, w in weights.items():
        if key.endswith("rotary_emb.inv_freq"):  # a buffer old checkpoints carry; recomputed
            continue
        match = _LAYER.search(key)
        pattern = _LAYER.sub(".{i}.", key, count=1) if match else key
        if pattern not in HF_NAMES:
            unknown.append(key)
            continue
        out[HF_NAMES[pattern].replace("{i}", match.group(1) if match else "")] = w
    if model.config.tie_word_embeddings:
        out["output.weight"] = out.get("tok_embeddings.weight")
    expected = set(model.state_dict())
    missing = sorted(expected - {k for k, v in out.items() if v is not None})
    unknown += sorted(set(out) - expected)
    if missing or unknown:
        raise RuntimeError(f"Llama.from_pretrained: checkpoint keys do not match the model; "
                           f"missing {missing[:5]}, unexpected {unknown[:5]}")
    return out


_MODEL_TYPES = ("llama", "qwen2", "mistral")


def config_from_hf(hf, source):
    """LlamaConfig from a Hugging Face config.json dict."""
    kind = hf.get("model_type")
    if kind not in _MODEL_TYPES:
        raise ValueError(f"Llama.from_pretrained: {source} is a {kind!r} model; this loader "
                         f"reads {', '.join(_MODEL_TYPES)}")
    if hf.get("mlp_bias"):
        raise ValueError(f"Llama.from_pretrained: {source} has MLP biases (mlp_bias=true), "
                         "which this model does not implement")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"Llama.from_pretrained: {source} uses activation "
                         f"{hf['hidden_act']!r}, not SwiGLU's silu")
    fields = {f.name for f in dataclasses.fields(LlamaConfig)}
    kwargs = {k: v for k, v in hf.items() if k in fields}
    kwargs.pop("dropout", None)
    if kind == "qwen2":  # biases on q, k, v only
        kwargs["attention_bias"], kwargs["attention_out_bias"] = True, False
    else:
        kwargs["attention_out_bias"] = bool(hf.get("attention_bias", False))
    if kwargs.get("rope_theta") is None:  # newer configs nest it in rope_parameters
        kwargs["rope_theta"] = (hf.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    if kwargs.get("rope_scaling") is None:
        params = hf.get("rope_parameters") or {}
        if params.get("rope_type", "default") != "default":
            kwargs["rope_scaling"] = {k: v for k, v in params.items() if k != "rope_theta"}
    return LlamaConfig(**kwargs)
