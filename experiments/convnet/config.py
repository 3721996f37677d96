import dataclasses

from experiments.harness import RunConfig


@dataclasses.dataclass
class ConvNetRunConfig(RunConfig):
    """zoo's ConvNet (Conv-BatchNorm-ReLU-Dropout x3, adaptive pool, linear) on MNIST digits."""
    steps: int = 1000
    batch: int = 64
    lr: float = 2e-3
    eval_every: int = 250
    ckpt_every: int = 500
    dropout: float = 0.0        # 0 so both sides see the same computation; the zoo default is 0.1
    source: str = "auto"        # auto | idx (full MNIST) | 5k (offline digits)
