"""scripts/bench_ddp.py: the table's efficiency and no-comm ceiling from made-up runs, and the
driver end to end on 1 and 2 real ranks (the MLP, two steps)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import bench_ddp  # noqa: E402


def _run(samples_per_s, cpu_ms, ranks, sync_ms=0.0):
    return {"model": "gpt2", "ranks": ranks, "params": 10, "samples_per_s": samples_per_s,
            "step_ms": 1000.0 * ranks / samples_per_s, "cpu_ms": cpu_ms, "sync_ms": sync_ms,
            "sync_after_ms": sync_ms / 2}


def test_table_reads_efficiency_and_ceiling_against_one_rank():
    runs = {("gpt2", 1, False): [_run(10.0, 200.0, 1), _run(12.0, 190.0, 1), _run(11.0, 210.0, 1)],
            ("gpt2", 2, False): [_run(18.0, 220.0, 2, 20.0)],
            ("gpt2", 2, True): [_run(21.0, 200.0, 2)]}
    one, two = bench_ddp.table(runs, ["gpt2"], [1, 2])
    assert one["samples_per_s"] == 11.0 and one["cpu_ms"] == 200.0  # medians of the repeats
    assert one["efficiency"] == 1.0 and one["ceiling"] is None
    assert two["efficiency"] == pytest.approx(18.0 / 22.0)
    assert two["ceiling"] == pytest.approx(21.0 / 22.0)
    assert two["cpu_eff"] == pytest.approx(200.0 / 220.0)
    assert two["cpu_ceiling"] == pytest.approx(1.0)
    assert two["idle"] == pytest.approx(one["step_ms"] / (one["step_ms"] + 20.0))


@pytest.mark.mpi
def test_driver_reports_a_ceiling_beside_the_efficiency():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_ddp.py"),
                          "--models", "mlp", "--steps", "2", "--warmup", "1", "--batch", "8",
                          "--no-allreduce"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("mlp ")]
    assert [r[2] for r in rows] == ["1", "2"], out
    one, two = rows
    # one rank: efficiency 100%, no ceiling; two ranks: efficiency, ceiling, cpu eff, cpu ceil
    assert one[8] == "100%" and one[9] == "100%" and len(one) == 11, out
    assert len(two) == 13 and all(x.endswith("%") for x in two[8:]), out


def test_op_times_charge_forward_and_backward_then_restore_the_ops():
    import numpy as np

    import mytorch
    from mytorch.ops.nn import Linear
    x = mytorch.tensor(np.ones((64, 32), np.float32), requires_grad=True)
    w = mytorch.tensor(np.ones((16, 32), np.float32), requires_grad=True)
    forward, backward = Linear.__dict__["forward"], Linear.__dict__["backward"]
    with bench_ddp.OpTimes() as ops:
        y = mytorch.nn.functional.linear(x, w)
        y.sum().backward()
        assert Linear.__dict__["forward"] is not forward
    assert Linear.__dict__["forward"] is forward and Linear.__dict__["backward"] is backward
    assert ops.ms["Linear.forward"] > 0 and ops.ms["Linear.backward"] > 0, ops.ms
    np.testing.assert_array_equal(w.grad.numpy(), np.full((16, 32), 64, np.float32))
    assert set(ops.ms) >= {"Linear.forward", "Linear.backward"}


def test_op_table_puts_the_biggest_slowdown_first():
    alone = [{"op_ms": {"A.forward": 10.0, "B.backward": 5.0}},
             {"op_ms": {"A.forward": 12.0, "B.backward": 7.0}}]
    beside = [{"op_ms": {"A.forward": 11.0, "B.backward": 9.0, "C.forward": 1.0}}]
    rows = bench_ddp.op_table(alone, beside)
    assert rows[0] == ("B.backward", 6.0, 9.0)
    assert rows[1] == ("C.forward", 0.0, 1.0) and rows[2] == ("A.forward", 11.0, 11.0)
