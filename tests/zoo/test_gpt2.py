import numpy as np
import pytest

import mytorch
import mytorch.nn.functional as F
from zoo.gpt2 import GPT2, GPTConfig, KVCache

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

HF_CONFIG = {"vocab_size": 97, "n_positions": 32, "n_embd": 48, "n_layer": 2, "n_head": 4,
             "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.0,
             "attn_pdrop": 0.0, "bos_token_id": 0, "eos_token_id": 0}


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    """A small random GPT2LMHeadModel saved with save_pretrained (no hub)."""
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**HF_CONFIG)).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("hf-gpt2")
    model.save_pretrained(path)
    assert (path / "model.safetensors").exists()
    return model, path


def _tokens(n, seed=0, batch=2):
    return np.random.default_rng(seed).integers(0, HF_CONFIG["vocab_size"], (batch, n))


def _hf_logits(model, idx):
    with torch.no_grad():
        return model(torch.from_numpy(idx)).logits.numpy()


def test_from_pretrained_matches_transformers(hf_model):
    ref, path = hf_model
    model = GPT2.from_pretrained(path)
    c = model.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (2, 4, 48, 32, 97)
    assert model.lm_head.weight is model.transformer.wte.weight
    idx = _tokens(20)
    with mytorch.no_grad():
        logits, _ = model.eval()(mytorch.tensor(idx))
    np.testing.assert_allclose(logits.numpy(), _hf_logits(ref, idx), atol=1e-4, rtol=1e-4)


def test_kv_cache_matches_transformers(hf_model):
    ref, path = hf_model
    model = GPT2.from_pretrained(path).eval()
    idx = _tokens(24, seed=1)
    want = _hf_logits(ref, idx)
    cache = KVCache(model.config.n_layer)
    got = []
    with mytorch.no_grad():
        for chunk in (idx[:, :7], idx[:, 7:8], idx[:, 8:15], idx[:, 15:16], idx[:, 16:]):
            logits, _ = model(mytorch.tensor(chunk), kv_cache=cache)
            got.append(logits.numpy())
    assert len(cache) == 24
    np.testing.assert_allclose(np.concatenate(got, axis=1), want, atol=1e-4, rtol=1e-4)


def test_keys_without_transformer_prefix(hf_model, tmp_path):
    """A GPT2Model checkpoint (keys like h.0.attn.c_attn.weight) loads too."""
    ref, _ = hf_model
    ref.transformer.save_pretrained(tmp_path)
    from safetensors.numpy import load_file
    assert not any(k.startswith("transformer.") for k in load_file(tmp_path /
                                                                   "model.safetensors"))
    model = GPT2.from_pretrained(tmp_path / "model.safetensors").eval()
    idx = _tokens(9, seed=2)
    with mytorch.no_grad():
        logits, _ = model(mytorch.tensor(idx))
    np.testing.assert_allclose(logits.numpy(), _hf_logits(ref, idx), atol=1e-4, rtol=1e-4)


def test_generate_greedy_matches_transformers(hf_model):
    ref, path = hf_model
    model = GPT2.from_pretrained(path)
    idx = _tokens(5, seed=3, batch=1)
    want = idx
    for _ in range(12):  # greedy decoding with transformers' full forward
        want = np.concatenate([want, _hf_logits(ref, want)[:, -1:].argmax(-1)], axis=1)
    for use_cache in (True, False):
        got = model.generate(mytorch.tensor(idx), 12, temperature=0, use_cache=use_cache)
        np.testing.assert_array_equal(got.numpy(), want)


def test_generate_sampling_and_sliding_window():
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(block_size=8, vocab_size=50, n_layer=1, n_head=2, n_embd=16))
    idx = mytorch.tensor(np.zeros((2, 3), np.int64))
    mytorch.manual_seed(1)
    a = model.generate(idx, 20, temperature=0.9, top_k=5)
    mytorch.manual_seed(1)
    b = model.generate(idx, 20, temperature=0.9, top_k=5, use_cache=False)
    assert a.shape == (2, 23) and a.numpy().max() < 50
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # the cache changes nothing
    # top_k=1 is greedy
    g = model.generate(idx, 6, temperature=0)
    np.testing.assert_array_equal(model.generate(idx, 6, top_k=1).numpy(), g.numpy())
    assert model.training  # generate restores the mode


def test_config_presets_and_errors():
    assert GPTConfig.preset("gpt2-medium").n_layer == 24
    assert GPTConfig.preset("tiny", dropout=0.1).dropout == 0.1
    with pytest.raises(ValueError, match="unknown preset"):
        GPTConfig.preset("gpt5")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    model = GPT2(GPTConfig(block_size=4, vocab_size=11, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="block_size"):
        model(mytorch.tensor(np.zeros((1, 5), np.int64)))
    with pytest.raises(FileNotFoundError, match="neither a file"):
        GPT2.from_pretrained("no-such-model")


def test_configure_optimizers_groups():
    model = GPT2(GPTConfig(block_size=8, vocab_size=20, n_layer=2, n_head=2, n_embd=8))
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])
    n = len(list(model.parameters()))  # wte/lm_head counted once
    assert len(decay["params"]) + len(no_decay["params"]) == n
    assert n == 2 + 2 * 12 + 2  # wte, wpe; 12 per block; ln_f


def test_fused_residual_dropout_leaves_cpu_training_unchanged(monkeypatch):
    # the blocks add their dropped-out branches with F.dropout_add, which on the CPU must be
    # x + F.dropout(branch), draws included: a training step matches it bit for bit
    def step(dropout=0.3):
        mytorch.manual_seed(0)
        model = GPT2(GPTConfig(block_size=8, vocab_size=20, n_layer=2, n_head=2, n_embd=8,
                               dropout=dropout))
        idx = mytorch.tensor(np.random.default_rng(0).integers(0, 20, (2, 8)))
        _, loss = model(idx, idx)
        loss.backward()
        return [loss.detach().numpy()] + [p.grad.numpy() for p in model.parameters()]

    fused = step()
    assert fused[0] != step(0.0)[0]  # dropout is on: the draws matter
    monkeypatch.setattr(F, "dropout_add", lambda x, residual, p, training:
                        residual + F.dropout(x, p, training))
    unfused = step()
    for a, b in zip(fused, unfused):
        np.testing.assert_array_equal(a, b)
