"""The last rank raises while the others wait in a collective: the job must abort, not hang.
The error message carries every rank's OMP_NUM_THREADS (the launcher sets them to 1)."""
import os

import common as C  # noqa: F401

from miniddp import Accelerator

acc = Accelerator()
threads = acc.comm.allgather_object(os.environ.get("OMP_NUM_THREADS"))
if acc.process_index == acc.num_processes - 1:
    raise ValueError(f"boom from rank {acc.process_index}; threads per rank: {threads}")
acc.wait_for_everyone()
acc.wait_for_everyone()
