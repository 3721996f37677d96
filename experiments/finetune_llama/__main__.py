import sys

from experiments.finetune_llama.run import EXPERIMENT
from experiments.harness import main

sys.exit(main(EXPERIMENT))
