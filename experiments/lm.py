"""What the language-model experiments (gpt2, finetune) share: token batches from
TokenStreams, AdamW with weight decay on matrices only, warmup + cosine, validation loss."""
import math

import numpy as np

from experiments.harness import Experiment


class TokenLMExperiment(Experiment):
    """An experiment on a causal LM: `load_data` returns {"train", "val"} TokenStreams and the
    model's forward(x, y) returns (logits, loss). The config needs lr, min_lr, warmup, steps,
    weight_decay, batch, eval_batches and seed."""

    unit_name = "tokens"

    def optimizer(self, lib, model, cfg):
        # Weight decay on matmul weights and embeddings only, as nanoGPT and zoo.gpt2 do;
        # frozen parameters are left out.
        params = [p for p in model.parameters() if p.requires_grad]
        return lib.optim.AdamW([
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.95))

    def scheduler(self, lib, optimizer, cfg):
        return lib.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))

    def batch(self, data, step, cfg):
        return data["train"].get_batch(cfg.batch, np.random.default_rng((cfg.seed, step)))

    def loss(self, lib, model, batch):
        x, y = batch
        return model(x, y)[1]

    def evaluate(self, lib, model, data, cfg):
        rng = np.random.default_rng((cfg.seed, 10 ** 9))  # the same batches every time
        dev = next(iter(model.parameters())).device
        losses = []
        with lib.no_grad():
            for _ in range(cfg.eval_batches):
                x, y = data["val"].get_batch(cfg.batch, rng)
                if lib.__name__ == "torch":
                    x, y = lib.from_numpy(x).to(dev), lib.from_numpy(y).to(dev)
                else:
                    x, y = lib.tensor(x, device=dev), lib.tensor(y, device=dev)
                losses.append(float(model(x, y)[1]))
        return {"val_loss": float(np.mean(losses))}

    def units(self, batch):
        return batch[0].size


def lr_factor(step, cfg):
    """Linear warmup then cosine decay to min_lr, as a multiple of the peak lr."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    floor = cfg.min_lr / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
