"""The language-model front (zoo.lm, scripts/sample.py) and Hugging Face tokenizers, on a
tokenizer and a tiny Llama built here (no download)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mytorch
from zoo.data.hf_tokenizer import HFTokenizer
from zoo.lm import language_models, load_language_model, prompt_ids, stream_text

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parents[2]
WORDS = ("to be or not that is the question whether tis nobler in mind suffer slings and "
         "arrows of outrageous fortune take arms against a sea troubles by opposing end them "
         "die sleep no more").split()
SPECIALS = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>"]
TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} "
            "{{ eos_token }} {% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny random Llama saved by transformers, with a word-level tokenizer.json and a
    tokenizer_config.json holding a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    path = tmp_path_factory.mktemp("hf-tiny-chat")
    vocab = {t: i for i, t in enumerate(SPECIALS + sorted(set(WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[
        ("<s>", vocab["<s>"])])
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": {"content": "</s>"}, "chat_template": TEMPLATE}))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32,
                                      intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=64, bos_token_id=1,
                                      eos_token_id=2)
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    return path


def test_tokenizer_matches_transformers(folder):
    ours = HFTokenizer.from_folder(folder)
    ref = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                               bos_token="<s>", eos_token="</s>")
    ref.chat_template = TEMPLATE
    text = "to be or not to be that is the question"
    assert ours.encode(text) == ref(text)["input_ids"]
    assert ours.encode(text)[0] == 1  # the post-processor's BOS
    assert ours.decode(ours.encode(text)) == ref.decode(ref(text)["input_ids"],
                                                        skip_special_tokens=True)
    assert ours.eos_token_id == 2
    messages = [{"role": "user", "content": "to sleep"}]
    want = ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours.apply_chat_template(messages) == want
    ids = prompt_ids(ours, "to sleep")  # chat template applied by default when present
    assert ids == ref(want, add_special_tokens=False)["input_ids"]
    assert prompt_ids(ours, "to sleep", chat=False) == ours.encode("to sleep")


def test_tokenizer_errors(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        HFTokenizer.from_folder(tmp_path)
    tok = HFTokenizer.from_folder(folder)
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat_template"):
        tok.apply_chat_template([{"role": "user", "content": "x"}])


def test_stream_text_equals_generate(folder):
    model, tok = load_language_model(folder)
    mytorch.manual_seed(5)
    pieces = list(stream_text(model, tok, "to be or", max_new_tokens=12, temperature=0,
                              chat=False))
    ids = mytorch.tensor([tok.encode("to be or")])
    out = model.generate(ids, 12, temperature=0, eos_token_id=tok.eos_token_id).numpy()[0]
    prompt = tok.decode(ids.numpy()[0].tolist())
    assert prompt + "".join(pieces) == tok.decode(out.tolist())
    assert "".join(pieces).startswith(" ") and len(pieces) >= 1


def test_language_models_listed_and_non_lm_rejected():
    names = language_models()
    for name in ("gpt2-shakespeare", "gpt2", "smollm-135m", "smollm-360m", "tinyllama-1.1b",
                 "qwen2.5-0.5b", "llama-3.2-1b"):
        assert name in names
    assert "convnet" not in names
    with pytest.raises(ValueError, match="not a language model"):
        load_language_model("convnet")
    with pytest.raises(FileNotFoundError, match="neither a zoo language model"):
        load_language_model("/no/such/folder")


def _sample(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "sample.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_sample_script_streams_a_hf_folder(folder):
    r = _sample("--model", str(folder), "--prompt", "to be", "-n", "8", "--chat", "off")
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[:2] == ["to", "be"] and len(words) > 2
    assert set(words) <= set(WORDS) | {"<unk>"}


def test_sample_script_shipped_gpt2_and_offline_message(tmp_path):
    r = _sample("--model", "gpt2-shakespeare", "--prompt", "ROMEO:", "-n", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ROMEO:") and len(r.stdout) > len("ROMEO:\n")
    env_cache = {"HF_HUB_CACHE": str(tmp_path)}
    os.environ.update(env_cache)
    try:
        r = _sample("--model", "qwen2.5-0.5b", "-n", "2")
    finally:
        os.environ.pop("HF_HUB_CACHE")
    if r.returncode == 0:  # the weights are present on this machine after all
        assert r.stdout
    else:
        assert "weights not found: no network" in r.stderr and "Qwen2.5-0.5B" in r.stderr


def test_char_tokenizer_roundtrip_and_errors():
    from zoo.data.tokens import CharTokenizer
    tok = CharTokenizer(sorted(set("ROMEO: But soft!\n")))
    assert tok.decode(tok.encode("ROMEO: But soft!")) == "ROMEO: But soft!"
    with pytest.raises(ValueError, match=r"characters \['z'\] are not in"):
        tok.encode("zoo")
    with pytest.raises(ValueError, match="repeats"):
        CharTokenizer("aa")
    assert np.array_equal(tok.encode("OO"), [tok.index["O"]] * 2)


def test_char_model_ships_with_its_alphabet(tmp_path, monkeypatch):
    """A character-level model's card carries its alphabet; zoo.lm decodes with it."""
    from zoo import registry
    from zoo.gpt2 import GPT2, GPTConfig
    monkeypatch.setattr(registry, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setattr(registry, "CARDS", tmp_path / "cards")
    chars = "\n !ABEMOR:abcdeo"
    mytorch.manual_seed(0)
    model = GPT2(GPTConfig(block_size=32, vocab_size=len(chars), n_layer=1, n_head=2,
                           n_embd=16))
    card = registry.ship("gpt2-shakespeare-char", model, dtype=np.float16, command="test",
                         chars=chars)
    assert "| alphabet | `\"\\n !ABEMOR:abcdeo\"` |" in str(card)
    loaded, tok = load_language_model("gpt2-shakespeare-char")
    assert tok.decode(tok.encode("ROMEO:")) == "ROMEO:"
    text = "".join(stream_text(loaded, tok, "ROMEO:", max_new_tokens=10))
    assert len(text) == 10 and set(text) <= set(chars)
