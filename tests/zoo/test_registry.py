import numpy as np
import pytest

import mytorch
import zoo
from zoo import registry
from zoo.gpt2 import GPT2, GPTConfig
from zoo.hub import resolve_gpt2


@pytest.fixture
def tmp_zoo(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setattr(registry, "CARDS", tmp_path / "cards")
    return tmp_path


def test_list_and_unknown():
    names = zoo.list()
    for name in ("mnist-mlp", "convnet", "gpt2-shakespeare", "gpt2", "gpt2-xl"):
        assert name in names
    with pytest.raises(KeyError, match="unknown model 'resnet'"):
        zoo.load("resnet")


def test_untrained_builds():
    mlp = zoo.load("mnist-mlp", pretrained=False)
    assert [tuple(p.shape) for p in mlp.parameters()][::2] == [(128, 784), (64, 128),
                                                               (32, 64), (10, 32)]
    gpt = zoo.load("gpt2", pretrained=False, n_layer=1, vocab_size=100)  # small to build
    assert gpt.config.n_head == 12 and gpt.config.n_embd == 768
    tiny = zoo.load("gpt2-shakespeare", pretrained=False, **GPTConfig.PRESETS["tiny"],
                    vocab_size=100)
    assert tiny.config.block_size == 128
    with pytest.raises(ValueError, match="pretrained=False"):
        zoo.load("mnist-mlp", hidden=(10,))


def test_ship_load_roundtrip_and_sha256(tmp_zoo):
    mytorch.manual_seed(0)
    model = zoo.load("convnet", pretrained=False, channels=[4, 8])
    x = mytorch.randn(3, 1, 28, 28)
    model.train()(x)  # move the BatchNorm running statistics
    mc = zoo.ship("convnet", model, command="test", steps=1, metrics={"test_accuracy": 0.5})
    assert (tmp_zoo / "cards" / "convnet.md").read_text().startswith("# convnet")
    assert "| test_accuracy | 0.5000 |" in str(zoo.card("convnet"))
    loaded = zoo.load("convnet")
    assert not loaded.training and loaded.config.channels == (4, 8)
    with mytorch.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), model.eval()(x).numpy())
    path = tmp_zoo / "checkpoints" / mc.file
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256"):
        zoo.load("convnet")


def test_missing_checkpoint_says_how(tmp_zoo):
    with pytest.raises(FileNotFoundError, match="make train-gpt2"):
        zoo.load("gpt2-shakespeare")


def test_ship_gpt2_tied_float16(tmp_zoo):
    model = GPT2(GPTConfig(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16))
    zoo.ship("gpt2-shakespeare", model, dtype=np.float16)
    from safetensors.numpy import load_file
    stored = load_file(tmp_zoo / "checkpoints" / "gpt2-shakespeare.safetensors")
    assert "lm_head.weight" not in stored and stored["transformer.wte.weight"].dtype == np.float16
    loaded = zoo.load("gpt2-shakespeare")
    assert loaded.lm_head.weight is loaded.transformer.wte.weight
    assert loaded.transformer.wte.weight.dtype == np.float32
    idx = mytorch.tensor(np.arange(10)[None])
    with mytorch.no_grad():
        np.testing.assert_allclose(loaded(idx)[0].numpy(), model(idx)[0].numpy(), atol=2e-3)


def test_gpt2_weights_from_data_folder(tmp_path, monkeypatch):
    """zoo.load("gpt2") finds data/hf/gpt2/model.safetensors; without it, a clear message."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FileNotFoundError, match="huggingface.co/openai-community/gpt2"):
        resolve_gpt2("gpt2", root=tmp_path)
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=24, n_layer=1, n_head=2,
                                  bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "hf" / "gpt2")
    weights, config = resolve_gpt2("gpt2", root=tmp_path)
    assert config["n_embd"] == 24 and "transformer.wte.weight" in weights
