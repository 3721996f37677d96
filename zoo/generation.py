"""Pieces every zoo language model generates with: a key/value cache, the causal mask of new
tokens after cached ones, sampling of the next token (temperature, top-k, top-p) and the
generation loop."""
import numpy as np

import mytorch


class LayerCache:
    """Keys and values (B, n_kv_head, T, head_dim) of one layer, for the tokens seen so far."""

    def __init__(self):
        self.k = self.v = None

    def __len__(self):
        return 0 if self.k is None else self.k.shape[2]

    def append(self, k, v):
        if self.k is not None:
            k, v = mytorch.cat([self.k, k], dim=2), mytorch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class KVCache:
    """One LayerCache per block; `len(cache)` is the number of cached positions."""

    def __init__(self, n_layer):
        self.layers = [LayerCache() for _ in range(n_layer)]

    def __len__(self):
        return len(self.layers[0])


def attention_mask(T, past, device):
    """Mask for T new queries after `past` cached keys: None where `is_causal` (no cache) or a
    single query (it sees everything) suffices, else the bottom-right aligned (T, past + T)
    lower triangle (True = attend)."""
    if past == 0 or T == 1:
        return None
    return mytorch.tensor(np.tril(np.ones((T, past + T), dtype=bool), k=past), device=device)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None):
    """(B, V) logits -> (B, 1) int64 token ids. temperature 0 is greedy; top_k keeps the k
    likeliest tokens; top_p keeps the smallest set whose probability reaches p. Draws from
    mytorch's RNG (manual_seed)."""
    xp = mytorch.backend.array_module(logits.data)
    z = logits.data.astype(np.float32)
    if temperature == 0:
        return mytorch.Tensor._wrap(z.argmax(-1)[:, None].astype(np.int64))
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"sample_next: top_p must be in (0, 1], got {top_p}")
    z = z / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = xp.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
        z = xp.where(z < kth, -xp.inf, z)
    p = xp.exp(z - z.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = xp.argsort(-p, axis=-1)
        sorted_p = xp.take_along_axis(p, order, axis=-1)
        # keep a token when the mass of the likelier ones is still below top_p
        keep_sorted = (xp.cumsum(sorted_p, axis=-1) - sorted_p) < top_p
        keep = xp.zeros_like(keep_sorted)
        xp.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = xp.where(keep, p, 0.0)
    cdf = xp.cumsum(p, axis=-1)
    u = mytorch.rand(z.shape[0], 1, device=logits.device).data * cdf[:, -1:]
    ids = (cdf < u).sum(-1, keepdims=True).clip(0, z.shape[-1] - 1)
    return mytorch.Tensor._wrap(ids.astype(np.int64))


def stream_tokens(model, idx, max_new_tokens, window, n_layer, temperature=1.0, top_k=None,
                  top_p=None, use_cache=True, eos_token_id=None):
    """Yield the (B, 1) tokens sampled after idx (B, T) one at a time. `model(x, kv_cache=)`
    returns (logits, loss); it reads the last `window` tokens first, then one token per step
    through a KVCache of `n_layer` layers (without `use_cache`, the whole window every step),
    and the last `window` again when the cache is full. Stops early once every row has
    produced `eos_token_id` (an int or a list of ints). The model is in eval mode meanwhile."""
    was_training = model.training
    model.eval()
    eos = set([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id or [])
    done = np.zeros(idx.shape[0], dtype=bool)
    cache = None
    try:
        for _ in range(max_new_tokens):
            if use_cache and cache is not None and len(cache) < window:
                logits, _ = model(idx[:, -1:], kv_cache=cache)
            else:  # first step, no cache, or the window is full: re-read the last `window`
                cache = KVCache(n_layer) if use_cache else None
                logits, _ = model(idx[:, -window:], kv_cache=cache)
            nxt = sample_next(logits[:, -1, :], temperature, top_k, top_p)
            idx = mytorch.cat([idx, nxt], dim=1)
            yield nxt
            if eos:
                done |= np.isin(nxt.numpy()[:, 0], list(eos))
                if done.all():
                    return
    finally:
        model.train(was_training)
