import dataclasses

from experiments.harness import RunConfig


@dataclasses.dataclass
class MnistConfig(RunConfig):
    """The design document's MNIST MLP (784-128-64-32-10, sigmoid) with Adam."""
    steps: int = 2000           # ~32 epochs of the 4,000 offline digits at batch 64
    batch: int = 64
    lr: float = 3e-3
    eval_every: int = 250
    ckpt_every: int = 1000
    source: str = "auto"        # auto | idx (full MNIST) | 5k (offline digits)
