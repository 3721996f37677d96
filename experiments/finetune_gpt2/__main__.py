import sys

from experiments.finetune_gpt2.run import EXPERIMENT
from experiments.harness import main

sys.exit(main(EXPERIMENT))
