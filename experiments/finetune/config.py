import dataclasses

from experiments.harness import RunConfig


@dataclasses.dataclass
class FinetuneConfig(RunConfig):
    """Fine-tune a pretrained language model on Shakespeare: the last `unfrozen` blocks and the
    final norm train, the embeddings (and a head tied to them) and earlier blocks stay frozen.
    Offline, the model is a tiny random checkpoint saved by transformers (the run says so)."""
    model: str = ""             # zoo name or HF folder ("": gpt2 / smollm-135m by family)
    unfrozen: int = 2           # blocks trained, counted from the top
    steps: int = 100
    batch: int = 8              # sequences per step (global)
    block_size: int = 128       # tokens per sequence
    lr: float = 1e-4            # peak learning rate
    min_lr: float = 1e-5        # cosine floor
    warmup: int = 10
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    mixed_precision: str = "no"  # "no" or "fp16" (the Accelerator's; the PyTorch side: fp32)
    eval_every: int = 25
    eval_batches: int = 8
    ckpt_every: int = 50

    def validate(self):
        super().validate()
        if self.unfrozen < 0 or self.block_size < 2 or self.warmup < 0 or self.eval_batches < 1:
            raise ValueError("config: unfrozen and warmup must be >= 0, block_size >= 2, "
                             "eval_batches >= 1")
        if self.mixed_precision not in ("no", "fp16"):
            raise ValueError(f"config: mixed_precision must be 'no' or 'fp16', got "
                             f"{self.mixed_precision!r}")
