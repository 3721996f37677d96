"""Each shipped checkpoint loads, matches its sha256 and reaches its card's metric."""
import pytest

import zoo
from zoo import registry
from zoo.data.download import DATA_ROOT, file_hash
from zoo.train import evaluate_classifier, evaluate_lm

TARGETS = {"mnist-mlp": 0.92, "convnet": 0.96}  # the offline (5k digits) targets


def _shipped(name):
    path = registry.CHECKPOINTS / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"{name} is not shipped yet (`{registry.REGISTRY[name].make_target}`)")
    return path


def test_committed_checkpoints_are_small():
    total = sum(p.stat().st_size for p in registry.CHECKPOINTS.glob("*.safetensors"))
    assert total < 10e6, f"shipped checkpoints take {total / 1e6:.1f} MB (limit 10 MB)"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_classifier_checkpoint(name, mnist5k):
    path = _shipped(name)
    card = zoo.card(name)
    assert file_hash(path) == card.sha256 and card.command and card.steps and card.hardware
    model = zoo.load(name)  # checks the sha256 itself
    if "60,000" in (card.data or ""):
        pytest.skip(f"{name} was trained on full MNIST; these tests use the offline digits")
    metrics = evaluate_classifier(model, mnist5k[1])
    want = card.metrics.get("test_accuracy", card.metrics.get("accuracy"))
    assert metrics["accuracy"] == pytest.approx(want, abs=1e-6)
    assert metrics["accuracy"] >= TARGETS[name]


def test_gpt2_shakespeare_checkpoint():
    path = _shipped("gpt2-shakespeare")
    card = zoo.card("gpt2-shakespeare")
    assert file_hash(path) == card.sha256
    model = zoo.load("gpt2-shakespeare")
    val = DATA_ROOT / "shakespeare" / "val.bin"
    if not val.exists():
        pytest.skip("data/shakespeare/val.bin missing: run `make data`")
    from zoo.data.tokens import TokenStream
    loss = evaluate_lm(model, TokenStream(val, model.config.block_size))["loss"]
    assert loss <= card.metrics.get("val_loss", card.metrics.get("loss")) * 1.05


def test_sample_gpt2_script(capsys):
    """`make sample-gpt2` (scripts/sample_gpt2.py) prints a continuation of the prompt."""
    _shipped("gpt2-shakespeare")
    import importlib.util
    path = registry.ZOO.parent / "scripts" / "sample_gpt2.py"
    spec = importlib.util.spec_from_file_location("sample_gpt2", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--model", "gpt2-shakespeare", "--prompt", "ROMEO:", "-n", "8"])
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out) > len("ROMEO:") + 8
