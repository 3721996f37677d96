import sys

from experiments.harness import main
from experiments.gpt2.run import EXPERIMENT

sys.exit(main(EXPERIMENT))
