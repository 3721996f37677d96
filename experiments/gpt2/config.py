import dataclasses

from experiments.harness import RunConfig


@dataclasses.dataclass
class GPT2RunConfig(RunConfig):
    """GPT-2 on GPT-2 BPE tokens. The defaults train the tiny preset on Shakespeare on a CPU
    (both sides in under 10 minutes on 2 cores); MODEL=gpt2 DEVICE=cuda is the 124M model."""
    model: str = "tiny"         # a zoo.gpt2.GPTConfig preset: tiny, gpt2, gpt2-medium, ...
    block_size: int = 64        # tokens per sequence (0: the preset's)
    n_embd: int = 64            # width (0: the preset's); 64 keeps the shipped file < 10 MB
    steps: int = 400
    batch: int = 8              # sequences per step (global)
    lr: float = 3e-3            # peak learning rate
    min_lr: float = 3e-4        # cosine floor
    warmup: int = 20            # linear warmup steps
    weight_decay: float = 0.1   # on 2-D weights only
    dropout: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 50
    eval_batches: int = 8       # fixed validation batches per evaluation
    ckpt_every: int = 100
    dataset: str = "shakespeare"  # shakespeare | fineweb (streams FineWeb-edu; needs network)

    def validate(self):
        super().validate()
        from zoo.gpt2 import GPTConfig
        if self.model not in GPTConfig.PRESETS:
            raise ValueError(f"config: unknown preset model={self.model!r}; known: "
                             f"{', '.join(GPTConfig.PRESETS)}")
        if self.dataset not in ("shakespeare", "fineweb"):
            raise ValueError(f"config: dataset must be shakespeare or fineweb, got "
                             f"{self.dataset!r}")
        if self.block_size < 0 or self.n_embd < 0 or self.warmup < 0 or self.eval_batches < 1:
            raise ValueError("config: block_size, n_embd and warmup must be >= 0, "
                             "eval_batches >= 1")
