"""Issue #10: GradScaler keeps its inf/NaN check on the GPU, as torch does, and reads it once per
optimizer step (the skip decision); update() reads nothing more. The CuPy stand-in counts every
device->host copy (`host_syncs`), so these run under `make test-cuda-standin`."""
import numpy as np

import mytorch
import mytorch.nn as nn


def _step(model, opt, scaler, x, factor, host_syncs, unscale_first):
    loss = (model(x) ** 2).mean() * factor
    scaler.scale(loss).backward()
    before = host_syncs()
    if unscale_first:
        scaler.unscale_(opt)  # e.g. to clip: the check still waits until step()
        assert host_syncs() == before
    scaler.step(opt)
    in_step = host_syncs() - before
    scaler.update()
    opt.zero_grad()
    return in_step, host_syncs() - before - in_step


def test_grad_scaler_on_cuda_waits_once_per_step_and_matches_the_cpu(host_syncs):
    runs = {}
    for device in ("cpu", "cuda"):
        mytorch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 3)).to(device)
        opt = mytorch.optim.AdamW(model.parameters(), lr=1e-2)
        scaler = mytorch.amp.GradScaler(device, init_scale=2.0 ** 10, growth_interval=2)
        x = mytorch.tensor(np.random.default_rng(1).standard_normal((8, 4), np.float32),
                           device=device)
        syncs = []
        for i, factor in enumerate([1.0, float("inf"), 1.0, 1.0, float("nan"), 1.0]):
            syncs.append(_step(model, opt, scaler, x, factor, host_syncs, i % 2 == 0))
        runs[device] = ([p.detach().cpu().numpy() for p in model.parameters()],
                        scaler.state_dict())
        if device == "cuda":
            assert syncs == [(1, 0)] * 6, f"(in step, in update) host syncs per step: {syncs}"
    (cpu_params, cpu_state), (gpu_params, gpu_state) = runs["cpu"], runs["cuda"]
    assert gpu_state == cpu_state and gpu_state["skipped_steps"] == 2
    for a, b in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_grad_scaler_with_two_optimizers_on_cuda_waits_once_for_each(host_syncs):
    model = nn.Linear(4, 2).cuda()
    opts = [mytorch.optim.SGD([model.weight], lr=0.1), mytorch.optim.SGD([model.bias], lr=0.1)]
    scaler = mytorch.amp.GradScaler("cuda")
    scaler.scale(model(mytorch.randn(3, 4, device="cuda")).sum()).backward()
    before = host_syncs()
    for opt in opts:
        scaler.step(opt)
    scaler.update()
    assert host_syncs() - before == 2
    assert scaler.get_scale() == 2.0 ** 16
