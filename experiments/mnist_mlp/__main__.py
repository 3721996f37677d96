import sys

from experiments.harness import main
from experiments.mnist_mlp.run import EXPERIMENT

sys.exit(main(EXPERIMENT))
