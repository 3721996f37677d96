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
