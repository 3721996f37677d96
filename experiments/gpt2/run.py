"""GPT-2: mytorch (zoo.gpt2) vs a torch.nn twin, same weights, same token batches."""
import math

import numpy as np

from experiments.gpt2.config import GPT2RunConfig
from experiments.harness import Experiment


class GPT2Experiment(Experiment):
    name = "gpt2"
    Config = GPT2RunConfig
    zoo_name = "gpt2-shakespeare"
    unit_name = "tokens"
    ship_dtype = np.float16  # the embedding dominates; float16 keeps the file near 6.5 MB

    def model_config(self, cfg):
        from zoo.gpt2 import GPTConfig
        overrides = {"dropout": cfg.dropout}
        if cfg.block_size:
            overrides["block_size"] = cfg.block_size
        if cfg.n_embd:
            overrides["n_embd"] = cfg.n_embd
        return GPTConfig.preset(cfg.model, **overrides)

    def load_data(self, cfg):
        from zoo.data.download import DATA_ROOT
        from zoo.data.tokens import TokenStream, prepare_fineweb, prepare_shakespeare
        if cfg.dataset == "shakespeare":
            prepare_shakespeare()
        elif cfg.dataset == "fineweb":
            prepare_fineweb()
        else:
            raise ValueError(f"config: dataset must be shakespeare or fineweb, got {cfg.dataset!r}")
        folder = DATA_ROOT / ("shakespeare" if cfg.dataset == "shakespeare" else "fineweb-edu")
        T = self.model_config(cfg).block_size
        return {"train": TokenStream(folder / "train.bin", T),
                "val": TokenStream(folder / "val.bin", T)}

    def build(self, lib, cfg):
        if lib.__name__ == "torch":
            from experiments.gpt2.baseline import GPT
            return GPT(self.model_config(cfg))
        from zoo.gpt2 import GPT2
        return GPT2(self.model_config(cfg))

    def optimizer(self, lib, model, cfg):
        # Weight decay on matmul weights and embeddings only, as nanoGPT and zoo.gpt2 do.
        params = list(model.parameters())
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        return lib.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                {"params": no_decay, "weight_decay": 0.0}],
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
        losses = []
        with lib.no_grad():
            for _ in range(cfg.eval_batches):
                x, y = data["val"].get_batch(cfg.batch, rng)
                dev = next(iter(model.parameters())).device
                if lib.__name__ == "torch":
                    x, y = lib.from_numpy(x).to(dev), lib.from_numpy(y).to(dev)
                else:
                    x, y = lib.tensor(x, device=dev), lib.tensor(y, device=dev)
                losses.append(float(model(x, y)[1]))
        return {"val_loss": float(np.mean(losses))}

    def units(self, batch):
        return batch[0].size

    def data_note(self, cfg):
        T = self.model_config(cfg).block_size
        return f"{cfg.dataset}, GPT-2 BPE tokens, {cfg.batch}x{T} per step"


def lr_factor(step, cfg):
    """Linear warmup then cosine decay to min_lr, as a multiple of the peak lr."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    floor = cfg.min_lr / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


EXPERIMENT = GPT2Experiment()
