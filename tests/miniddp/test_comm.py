import numpy as np
import pytest

import mytorch
from miniddp import LocalCommunicator


def test_local_communicator_is_the_identity_and_counts_calls():
    c = LocalCommunicator()
    x = np.arange(3.0)
    assert c.allreduce(x, "mean") is x and c.broadcast(x) is x
    assert c.allgather(x)[0] is x and c.allgather_object(5) == [5]
    assert c.broadcast_object("a") == "a"
    c.barrier()
    assert c.calls["allreduce"] == 1 and sum(c.calls.values()) == 6
    with pytest.raises(ValueError, match="unknown op 'prod'"):
        c.allreduce(x, "prod")


def test_mpi_communicator_rejects_gpu_style_input():
    pytest.importorskip("mpi4py")
    from miniddp import MPICommunicator
    c = MPICommunicator()
    assert (c.rank, c.size) == (0, 1)
    with pytest.raises(TypeError, match="numpy array"):
        c.allreduce([1.0, 2.0])
    with pytest.raises(TypeError, match="floating"):
        c.allreduce(np.arange(3), "mean")
    parts = c.allgather(np.ones((2, 2), np.float16))
    assert parts[0].dtype == np.float16 and parts[0].shape == (2, 2)


def test_nonblocking_allreduce_on_one_process():
    # the Request protocol: wait() gives the reduced array (float16 through float32, a
    # non-contiguous array through a copy written back), test() says it has completed
    c = LocalCommunicator()
    x = np.arange(3.0)
    req = c.iallreduce(x, "mean")
    assert req.test() and req.wait() is x and c.calls["allreduce"] == 1
    with pytest.raises(ValueError, match="unknown op 'prod'"):
        c.iallreduce(x, "prod")
    pytest.importorskip("mpi4py")
    from miniddp import MPICommunicator
    c = MPICommunicator()
    half = np.array([1.5, -2.0, 65504.0], np.float16)
    req = c.iallreduce(half, "mean")
    assert req.wait() is half and half.tolist() == [1.5, -2.0, 65504.0]
    assert req.test() and req.wait() is half  # a second wait returns at once
    grid = np.arange(12.0).reshape(3, 4)
    column = grid[:, 1]  # not contiguous
    assert c.iallreduce(column, "max").wait() is column
    np.testing.assert_array_equal(grid, np.arange(12.0).reshape(3, 4))
    assert c.calls["allreduce"] == 2
    with pytest.raises(TypeError, match="iallreduce: expected a numpy array"):
        c.iallreduce([1.0, 2.0])
    with pytest.raises(TypeError, match="floating"):
        c.iallreduce(np.arange(3), "mean")


@pytest.mark.cuda
def test_nccl_communicator_on_one_gpu():
    if not mytorch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    pytest.importorskip("mpi4py")
    import cupy as cp

    from miniddp import NCCLCommunicator
    c = NCCLCommunicator()
    x = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    cp.testing.assert_allclose(c.allreduce(x.copy(), "mean"), x)
    cp.testing.assert_allclose(c.iallreduce(x.copy(), "mean").wait(), x)  # on a side stream
    half = x[:, 1].astype(cp.float16)
    cp.testing.assert_allclose(c.iallreduce(half, "sum").wait(), x[:, 1])
    cp.testing.assert_allclose(c.broadcast(x.copy()), x)
    (part,) = c.allgather(cp.ones(5, cp.float16))
    assert part.dtype == cp.float16 and part.shape == (5,)
    c.barrier()


def test_integer_mean_is_refused_on_one_process_too():
    # the error a multi-rank run gives (tests/faults), before any data moves
    x = np.arange(3)
    with pytest.raises(TypeError, match=r"op='mean' needs a floating array, got int64 \(shape"):
        LocalCommunicator().allreduce(x, "mean")
    assert x.tolist() == [0, 1, 2]


_PER_RANK_GPU = """
import mytorch
from miniddp import Accelerator
acc = Accelerator()
assert acc.comm.name == "nccl" and acc.device == "cuda:0", (acc.comm.name, acc.device)
x = mytorch.full((3,), float(acc.process_index + 1), device=acc.device)
total = acc.reduce(x, "sum")
assert total.cpu().tolist() == [3.0, 3.0, 3.0], total
print("OK per-rank GPU", acc.process_index, flush=True)
"""


def _mpmd(visible, timeout=120):
    """2 ranks, rank r started with CUDA_VISIBLE_DEVICES=visible[r] (MPICH's MPMD syntax)."""
    import os
    import signal
    import subprocess
    import sys
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("mpiexec not installed")
    cmd = [mpiexec]
    for i, v in enumerate(visible):
        cmd += ([":"] if i else []) + ["-n", "1", "-env", "CUDA_VISIBLE_DEVICES", v,
                                       sys.executable, "-c", _PER_RANK_GPU]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"ranks did not finish in {timeout}s")
    return proc.returncode, out + err


@pytest.mark.cuda
@pytest.mark.skipif(mytorch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_nccl_ranks_each_given_one_gpu_by_cuda_visible_devices():
    pytest.importorskip("mpi4py")
    code, out = _mpmd(["0", "1"])
    assert code == 0 and out.count("OK per-rank GPU") == 2, out
    code, out = _mpmd(["0", "0"])  # both ranks on one GPU: NCCL refuses, the job ends
    assert code != 0 and "duplicate gpu" in out.lower(), out
