"""GPT-2: mytorch (zoo.gpt2) vs a torch.nn twin, same weights, same token batches."""

import numpy as np

from experiments.gpt2.config import GPT2RunConfig
from experiments.lm import TokenLMExperiment


class GPT2Experiment(TokenLMExperiment):
    name = "gpt2"
    Config = GPT2RunConfig
    zoo_name = "gpt2-shakespeare"
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

    def data_note(self, cfg):
        T = self.model_config(cfg).block_size
        return f"{cfg.dataset}, GPT-2 BPE tokens, {cfg.batch}x{T} per step"


EXPERIMENT = GPT2Experiment()
