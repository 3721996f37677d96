import copy
import json

import numpy as np
import pytest

import mytorch
from zoo.generation import KVCache
from zoo.hub import read_checkpoint_folder, read_safetensors, resolve_folder
from zoo.llama import HF_NAMES, Llama, LlamaConfig, config_from_hf, rope_inv_freq

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

VOCAB = 101
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}


def _llama_config(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                rope_theta=500.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    return transformers.LlamaConfig(**{**base, **kw})


def _perturb_norms(model):
    with torch.no_grad():  # non-trivial RMSNorm gains and biases
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def _save(model, path, **kw):
    model.save_pretrained(path, **kw)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Random tiny checkpoints saved by transformers: a Llama (GQA, untied, Llama 3 RoPE
    scaling), a Qwen2 (q/k/v biases, tied, large rope_theta), the Llama sharded into several
    files, and the Llama in bfloat16."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hf-llama")
    llama = _perturb_norms(transformers.LlamaForCausalLM(
        _llama_config(rope_scaling=LLAMA3_ROPE)).eval())
    qwen = _perturb_norms(transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
        vocab_size=VOCAB, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
        rope_theta=1e6, tie_word_embeddings=True, rms_norm_eps=1e-6)).eval())
    out = {"llama": (llama, _save(llama, root / "llama")),
           "qwen2": (qwen, _save(qwen, root / "qwen2")),
           "sharded": (llama, _save(llama, root / "sharded", max_shard_size="40KB"))}
    bf16_path = _save(copy.deepcopy(llama).to(torch.bfloat16), root / "bf16")
    bf16_ref = transformers.LlamaForCausalLM.from_pretrained(bf16_path,
                                                             dtype=torch.float32).eval()
    out["bf16"] = (bf16_ref, bf16_path)
    return out


def _tokens(n, seed=0, batch=2):
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, n))


def _hf_logits(model, idx):
    with torch.no_grad():
        return model(torch.from_numpy(idx)).logits.numpy()


@pytest.mark.parametrize("kind", ["llama", "qwen2", "sharded", "bf16"])
def test_logits_match_transformers(checkpoints, kind):
    ref, path = checkpoints[kind]
    model = Llama.from_pretrained(path).eval()
    for n, seed in ((1, 0), (17, 1), (40, 2)):
        idx = _tokens(n, seed)
        with mytorch.no_grad():
            logits, _ = model(mytorch.tensor(idx))
        np.testing.assert_allclose(logits.numpy(), _hf_logits(ref, idx), atol=1e-4, rtol=1e-4)


def test_checkpoint_variants_load_as_intended(checkpoints):
    assert len(list(checkpoints["sharded"][1].glob("model-*.safetensors"))) > 1
    assert (checkpoints["sharded"][1] / "model.safetensors.index.json").exists()
    header = (checkpoints["bf16"][1] / "model.safetensors").read_bytes()[:4096]
    assert b'"BF16"' in header
    weights, _ = read_checkpoint_folder(checkpoints["bf16"][1])
    assert all(w.dtype == np.float32 for w in weights.values())
    raw = read_safetensors(checkpoints["bf16"][1] / "model.safetensors", upcast=False)
    assert str(raw["model.norm.weight"].dtype) == "bfloat16"
    qwen = Llama.from_pretrained(checkpoints["qwen2"][1])
    assert qwen.output.weight is qwen.tok_embeddings.weight
    assert qwen.layers[0].attention.wq.bias is not None
    assert qwen.layers[0].attention.wo.bias is None
    llama = Llama.from_pretrained(checkpoints["llama"][1])
    assert llama.output.weight is not llama.tok_embeddings.weight
    assert llama.config.rope_scaling["rope_type"] == "llama3"
    assert llama.layers[0].attention.wk.out_features == 2 * 16  # 2 key/value heads


def test_gradients_match_transformers(checkpoints):
    ref, path = checkpoints["llama"]
    model = Llama.from_pretrained(path)
    idx, targets = _tokens(12, 3), _tokens(12, 4)
    ref.zero_grad()
    ref_loss = ref(torch.from_numpy(idx), labels=None).logits
    ref_loss = torch.nn.functional.cross_entropy(ref_loss.reshape(-1, VOCAB),
                                                 torch.from_numpy(targets).reshape(-1))
    ref_loss.backward()
    _, loss = model(mytorch.tensor(idx), mytorch.tensor(targets))
    loss.backward()
    np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-5)
    ours = dict(model.named_parameters())
    for hf_name, p in ref.named_parameters():
        pattern = hf_name.replace(".0.", ".{i}.").replace(".1.", ".{i}.")
        i = "0" if ".0." in hf_name else "1"
        name = HF_NAMES[pattern].replace("{i}", i)
        np.testing.assert_allclose(ours[name].grad.numpy(), p.grad.numpy(), atol=1e-5,
                                   rtol=1e-4, err_msg=hf_name)
    ref.zero_grad()


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_kv_cache_matches_full_forward(checkpoints, kind):
    ref, path = checkpoints[kind]
    model = Llama.from_pretrained(path).eval()
    idx = _tokens(30, seed=5)
    cache = KVCache(model.config.num_hidden_layers)
    got = []
    with mytorch.no_grad():
        for chunk in (idx[:, :9], idx[:, 9:10], idx[:, 10:21], idx[:, 21:22], idx[:, 22:]):
            logits, _ = model(mytorch.tensor(chunk), kv_cache=cache)
            got.append(logits.numpy())
    assert len(cache) == 30
    np.testing.assert_allclose(np.concatenate(got, axis=1), _hf_logits(ref, idx), atol=1e-4,
                               rtol=1e-4)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_greedy_generation_matches_transformers(checkpoints, kind):
    ref, path = checkpoints[kind]
    model = Llama.from_pretrained(path)
    idx = _tokens(6, seed=7, batch=1)
    with torch.no_grad():
        want = ref.generate(torch.from_numpy(idx), max_new_tokens=24, do_sample=False,
                            pad_token_id=0, eos_token_id=None).numpy()
    got = model.generate(mytorch.tensor(idx), 24, temperature=0).numpy()
    np.testing.assert_array_equal(got, want)


def test_generate_stops_at_eos_and_streams(checkpoints):
    model = Llama.from_pretrained(checkpoints["llama"][1])
    idx = mytorch.tensor(_tokens(5, seed=8, batch=1))
    full = model.generate(idx, 12, temperature=0).numpy()[0, 5:]
    eos = int(full[3])
    first = int(np.flatnonzero(full == eos)[0])
    stopped = model.generate(idx, 12, temperature=0, eos_token_id=eos).numpy()[0, 5:]
    np.testing.assert_array_equal(stopped, full[:first + 1])
    streamed = [int(t.numpy()[0, 0]) for t in model.stream(idx, 12, temperature=0)]
    assert streamed == full.tolist()


def test_sampling_is_seeded_and_top_p_restricts(checkpoints):
    model = Llama.from_pretrained(checkpoints["qwen2"][1])
    idx = mytorch.tensor(_tokens(4, seed=9, batch=3))
    mytorch.manual_seed(3)
    a = model.generate(idx, 10, temperature=1.0, top_k=20, top_p=0.9).numpy()
    mytorch.manual_seed(3)
    b = model.generate(idx, 10, temperature=1.0, top_k=20, top_p=0.9).numpy()
    np.testing.assert_array_equal(a, b)
    # top_p tiny leaves only the argmax: equal to greedy
    np.testing.assert_array_equal(model.generate(idx, 8, top_p=1e-6).numpy(),
                                  model.generate(idx, 8, temperature=0).numpy())


def test_llama3_rope_scaling_matches_transformers():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    hf = _llama_config(rope_scaling={**LLAMA3_ROPE, "rope_theta": 500.0})
    want, _ = ROPE_INIT_FUNCTIONS["llama3"](hf, "cpu")
    config = config_from_hf(json.loads(hf.to_json_string()), "test")
    np.testing.assert_allclose(rope_inv_freq(config), want.numpy(), rtol=1e-6)
    linear = LlamaConfig.preset("tiny", rope_scaling={"rope_type": "linear", "factor": 4.0})
    np.testing.assert_allclose(rope_inv_freq(linear) * 4, rope_inv_freq(LlamaConfig.preset(
        "tiny")))


def test_training_step_lowers_loss():
    mytorch.manual_seed(0)
    model = Llama(LlamaConfig.preset("tiny", vocab_size=32, num_hidden_layers=2))
    opt = model.configure_optimizers(learning_rate=3e-3)
    idx = mytorch.tensor(np.tile(np.arange(16) % 7, (4, 1)))
    losses = []
    for _ in range(20):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_input_is_named(checkpoints, tmp_path):
    with pytest.raises(ValueError, match="num_attention_heads=6 is not a multiple"):
        LlamaConfig.preset("tiny", num_attention_heads=6, num_key_value_heads=4,
                           hidden_size=96)
    with pytest.raises(ValueError, match="rope_scaling type 'yarn'"):
        LlamaConfig.preset("tiny", rope_scaling={"rope_type": "yarn", "factor": 2.0})
    with pytest.raises(ValueError, match="'gpt2' model"):
        config_from_hf({"model_type": "gpt2"}, "x")
    # a shard named by the index but missing
    broken = tmp_path / "broken"
    broken.mkdir()
    src = checkpoints["sharded"][1]
    for f in src.iterdir():
        if f.name != sorted(src.glob("model-*.safetensors"))[0].name:
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(FileNotFoundError, match="shard model-00001"):
        Llama.from_pretrained(broken)
    # a checkpoint whose names do not match
    model = Llama.from_pretrained(checkpoints["llama"][1])
    weights, _ = read_checkpoint_folder(checkpoints["llama"][1])
    weights["model.layers.0.mlp.extra.weight"] = weights.pop("model.layers.0.mlp.up_proj.weight")
    from zoo.llama import hf_to_state_dict
    with pytest.raises(RuntimeError, match="missing.*up_proj|missing.*w3"):
        hf_to_state_dict(weights, model)


def test_unknown_name_and_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FileNotFoundError, match="neither a folder nor one of"):
        resolve_folder("no-such-model", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="weights not found: no network.*SmolLM-135M"):
        resolve_folder("smollm-135m", root=tmp_path)
    local = tmp_path / "hf" / "smollm-135m"
    local.mkdir(parents=True)
    (local / "config.json").write_text("{}")
    assert resolve_folder("smollm-135m", root=tmp_path) == local


def test_zoo_name_resolves_from_the_hf_cache(checkpoints, tmp_path, monkeypatch):
    """A zoo name finds its checkpoint in the Hugging Face cache layout
    (models--org--name/snapshots/<rev>/ with refs/main), without network."""
    import shutil

    from huggingface_hub import constants

    import zoo
    from zoo.hub import LLAMA_REPOS
    repo = tmp_path / ("models--" + LLAMA_REPOS["qwen2.5-0.5b"].replace("/", "--"))
    snapshot = repo / "snapshots" / "abc123"
    shutil.copytree(checkpoints["qwen2"][1], snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_folder("qwen2.5-0.5b", root=tmp_path / "no-data") == snapshot
    model = zoo.load("qwen2.5-0.5b")  # the registry goes through the same resolution
    idx = _tokens(9, seed=11)
    with mytorch.no_grad():
        logits, _ = model(mytorch.tensor(idx))
    np.testing.assert_allclose(logits.numpy(), _hf_logits(checkpoints["qwen2"][0], idx),
                               atol=1e-4, rtol=1e-4)
