import sys

from experiments.convnet.run import EXPERIMENT
from experiments.harness import main

sys.exit(main(EXPERIMENT))
