import sys

from experiments.harness import main
from experiments.convnet.run import EXPERIMENT

sys.exit(main(EXPERIMENT))
