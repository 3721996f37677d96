"""The last rank raises while the others wait in a collective: the job must abort, not hang."""
import os

import common as C  # noqa: F401

from miniddp import Accelerator

acc = Accelerator()
print(f"rank {acc.process_index} threads={os.environ.get('OMP_NUM_THREADS')}", flush=True)
if acc.process_index == acc.num_processes - 1:
    raise ValueError(f"boom from rank {acc.process_index}")
acc.wait_for_everyone()
acc.wait_for_everyone()
