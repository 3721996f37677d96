"""Issue #10: a training step waits on the GPU only where it must. The CuPy stand-in counts
every device->host copy (`host_syncs`), so these run under `make test-cuda-standin`."""
import pytest

import mytorch
from tests.miniddp.test_ranks import run_script

pytestmark = pytest.mark.mpi


def test_ddp_step_on_2_gpus_syncs_never_in_fp32_once_in_fp16(host_syncs):
    if mytorch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs (CUDA_STANDIN_GPUS=2)")
    proc = run_script("host_syncs.py", ranks=2, timeout=180)
    for name in ("host_syncs_no", "host_syncs_fp16"):
        assert proc.returncode == 0 and f"OK {name}\n" in proc.stdout, \
            f"{name} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
