import dataclasses

from experiments.harness import RunConfig


@dataclasses.dataclass
class MnistConfig(RunConfig):
    """The design document's MNIST MLP (784-128-64-32-10, sigmoid) with Adam."""
    steps: int = 600            # ~10 epochs of the 4,000 offline digits at batch 64
    batch: int = 64
    lr: float = 1e-3
    eval_every: int = 100
    ckpt_every: int = 200
    source: str = "auto"        # auto | idx (full MNIST) | 5k (offline digits)
