"""Accelerator: the same training script on one process, N CPU ranks, N GPUs or many machines.

    accelerator = Accelerator(gradient_accumulation_steps=2)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for x, y in loader:
        with accelerator.accumulate(model):
            loss = loss_fn(model(x), y)
            accelerator.backward(loss)        # gradients averaged over ranks on sync steps
            optimizer.step()                  # skipped while accumulating
            optimizer.zero_grad()

The rank bookkeeping lives in `ProcessState`, communication behind `Communicator`; the wrappers
returned by `prepare` hold the user's objects and never modify them (the model's weights are
overwritten by rank 0's, and moved to the device).
"""
import contextlib
import json
import os
import pickle
import random
import shutil
import sys

import numpy as np

import mytorch
from miniddp import amp, tracking
from miniddp.data import DataLoaderShard
from miniddp.state import ProcessState
from mytorch import backend
from mytorch.distributed.buckets import GradBuckets, check_same_model, embedding_roles
from mytorch.nn.modules.module import Module
from mytorch.tensor import Tensor

_PRECISIONS = ("no", "fp16")


class _CallableBool:
    """A bool that may also be called: HF Accelerate reads `accelerator.is_main_process` as a
    property, the design document calls `accelerator.is_main_process()`; both work."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = bool(value)

    def __bool__(self):
        return self.value

    def __call__(self):
        return self.value

    def __eq__(self, other):
        return self.value == other

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return repr(self.value)


class GradientState:
    """Whether this step synchronizes gradients, and which sharded dataloader is running."""

    def __init__(self):
        self.sync_gradients = True
        self.active = []

    def enter_dataloader(self, loader):
        self.active.append(loader)

    def exit_dataloader(self, loader):
        if loader in self.active:
            self.active.remove(loader)

    @property
    def dataloader(self):
        return self.active[-1] if self.active else None

    @property
    def end_of_dataloader(self):
        return self.dataloader is not None and self.dataloader.end_of_dataloader


class DistributedModel(Module):
    """The prepared model: calls the user's module (in fp16 when asked) and owns its gradient
    buckets (and their backward hooks while they leave during backward). `state_dict` keys carry
    a `module.` prefix as in PyTorch's DDP; `unwrap_model` gives the user's module back."""

    def __init__(self, module, accelerator, bucket_mb):
        super().__init__()
        self.module = module
        self.accelerator = accelerator
        self.buckets = GradBuckets(
            module.parameters(), bucket_mb,
            gradient_as_bucket_view=accelerator.gradient_as_bucket_view,
            **embedding_roles(module))
        self.bucket_hooks = []
        self._fp16 = accelerator.mixed_precision == "fp16"
        self._params = list(module.parameters())
        self._grad_nodes = amp.fp32_grad_hooks(self._params) if self._fp16 else []

    def forward(self, *args, **kwargs):
        if self._fp16:
            return amp.forward_fp16(self.module, self._params, args, kwargs)
        return self.module(*args, **kwargs)

    def no_sync(self):
        return self.accelerator.no_sync(self)


class AcceleratedOptimizer:
    """Calls the user's optimizer, except while accumulating (no step, no zero_grad) and on fp16
    overflow (step skipped on every rank, `step_was_skipped` set)."""

    def __init__(self, optimizer, accelerator):
        self.optimizer = optimizer
        self.accelerator = accelerator
        self.step_was_skipped = False

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def defaults(self):
        return self.optimizer.defaults

    def zero_grad(self, set_to_none=True):
        if self.accelerator.sync_gradients:
            self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        acc = self.accelerator
        self.step_was_skipped = False
        if not acc.sync_gradients:
            return None
        if acc.scaler is not None:
            found_inf, acc._found_inf = acc._found_inf, False
            acc.scaler.update(found_inf)
            if found_inf:
                self.step_was_skipped = True
                return None
        return self.optimizer.step() if closure is None else self.optimizer.step(closure)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state)

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __repr__(self):
        return f"AcceleratedOptimizer({self.optimizer!r})"


class AcceleratedScheduler:
    """Steps the user's scheduler once per optimizer step that really happened."""

    def __init__(self, scheduler, accelerator):
        self.scheduler = scheduler
        self.accelerator = accelerator

    def step(self, *args, **kwargs):
        acc = self.accelerator
        if not acc.sync_gradients or any(o.step_was_skipped for o in acc._optimizers):
            return
        self.scheduler.step(*args, **kwargs)

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)

    def __getattr__(self, name):
        return getattr(self.__dict__["scheduler"], name)


class Accelerator:
    """Data-parallel training with HF Accelerate's API on mytorch.

    mixed_precision: "no" or "fp16" (fp32 master weights, fp16 compute, dynamic loss scaling).
    gradient_accumulation_steps: micro-batches per optimizer step, used by `accumulate`.
    device: None (a GPU per local rank when CUDA is available, else the CPU), "cpu" or "cuda".
    log_with: None/"jsonl" (JSON-lines only), "wandb" or "all"; project_dir: where logs go.
    bucket_mb: size of the fused gradient buckets; scaler_kwargs: LossScaler's arguments.
    gradient_as_bucket_view: every averaged `.grad` is a view of its bucket, as with torch DDP's
    option of that name: the mean is not copied back out of the buckets, and the gradients
    take no memory of their own; the same values (see DistributedDataParallel). On by default
    here (torch's DDP defaults to False): on the tiny GPT-2 it saves about 2 ms of CPU per
    step and rank with zero_grad(set_to_none=True), about 4.5 with set_to_none=False (README).
    timeout: seconds (or a timedelta) a collective may wait before the watchdog aborts the job,
    naming the collective, rank and step (None: $MINIDDP_TIMEOUT, else 600 as in torch).
    comm: a Communicator to use instead of the one the launch implies (tests).
    """

    def __init__(self, mixed_precision="no", gradient_accumulation_steps=1, device=None,
                 log_with=None, project_dir=None, bucket_mb=25.0, scaler_kwargs=None,
                 comm=None, timeout=None, gradient_as_bucket_view=True):
        if mixed_precision not in _PRECISIONS:
            raise ValueError(f"Accelerator: mixed_precision must be one of {_PRECISIONS}, got "
                             f"{mixed_precision!r}")
        if not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 1:
            raise ValueError(f"Accelerator: gradient_accumulation_steps must be an int >= 1, got "
                             f"{gradient_accumulation_steps!r}")
        self.state = ProcessState.create(device, comm, timeout)
        self.gradient_state = GradientState()
        self.mixed_precision = mixed_precision
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.scaler = amp.LossScaler(**(scaler_kwargs or {})) if mixed_precision == "fp16" \
            else None
        self.log_with = log_with
        self.project_dir = project_dir or "runs"
        self.bucket_mb = bucket_mb
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.step = 0  # micro-steps seen by accumulate()
        self._backward_calls = 0  # the "step" the watchdog's messages name
        self.trackers = []
        self._models, self._optimizers, self._schedulers = [], [], []
        self._dataloaders, self._custom = [], []
        self._no_sync_depth = 0
        self._sending = False  # True during a backward whose gradient buckets leave as they fill
        self._found_inf = False
        self._data_seed = None

    # ---- process facts ----

    @property
    def comm(self):
        return self.state.comm

    @property
    def device(self):
        return self.state.device

    @property
    def process_index(self):
        return self.state.rank

    @property
    def local_process_index(self):
        return self.state.local_rank

    @property
    def num_processes(self):
        return self.state.world_size

    @property
    def is_main_process(self):
        return _CallableBool(self.state.is_main_process)

    @property
    def is_local_main_process(self):
        return _CallableBool(self.state.is_local_main_process)

    @property
    def sync_gradients(self):
        return self.gradient_state.sync_gradients

    def print(self, *args, **kwargs):
        """print() on the main process only."""
        if self.is_main_process:
            print(*args, **kwargs)

    def wait_for_everyone(self):
        self.comm.barrier()

    @contextlib.contextmanager
    def main_process_first(self):
        """The main process runs the body first (e.g. to download or cache), then the others."""
        if not self.is_main_process:
            self.comm.barrier()
        yield
        if self.is_main_process:
            self.comm.barrier()

    def __repr__(self):
        return (f"Accelerator({self.state}, mixed_precision={self.mixed_precision!r}, "
                f"gradient_accumulation_steps={self.gradient_accumulation_steps})")

    # ---- prepare ----

    def prepare(self, *objects):
        """Wrap models, optimizers, dataloaders and schedulers (any order); returns them in the
        order given. Other objects pass through unchanged."""
        out = []
        for obj in objects:
            if isinstance(obj, Module):
                out.append(self.prepare_model(obj))
            elif hasattr(obj, "param_groups") and hasattr(obj, "step"):
                out.append(self.prepare_optimizer(obj))
            elif hasattr(obj, "dataset") and hasattr(obj, "batch_size"):
                out.append(self.prepare_data_loader(obj))
            elif hasattr(obj, "optimizer") and hasattr(obj, "step"):
                out.append(self.prepare_scheduler(obj))
            else:
                out.append(obj)
        return out[0] if len(out) == 1 else tuple(out)

    def prepare_model(self, model):
        if isinstance(model, DistributedModel):
            return model
        if self.device.type == "cuda":
            model.to(self.device)
        check_same_model(self.comm, model, "prepare")
        for t in list(model.parameters()) + list(model.buffers()):
            self.comm.broadcast(t.data, root=0)
        wrapped = DistributedModel(model, self, self.bucket_mb)
        self._models.append(wrapped)
        self._hook_buckets()
        return wrapped

    def _hook_buckets(self):
        """On many ranks with one prepared model, its gradient buckets leave during backward as
        soon as they are full (each rank sends them in the same fixed order) and are waited for
        at its end. With several models the buckets of one backward through both could become
        ready in an order that differs by rank; they are then reduced after backward, model by
        model, as on one rank."""
        for m in self._models:
            for h in m.bucket_hooks:
                h.remove()
            m.bucket_hooks = []
        if self.num_processes > 1 and len(self._models) == 1:
            m = self._models[0]
            m.bucket_hooks = m.buckets.attach(self.comm, enabled=lambda: self._sending,
                                              unpack=False)

    def prepare_optimizer(self, optimizer):
        wrapped = AcceleratedOptimizer(optimizer, self)
        self._optimizers.append(wrapped)
        return wrapped

    def prepare_scheduler(self, scheduler):
        wrapped = AcceleratedScheduler(scheduler, self)
        self._schedulers.append(wrapped)
        return wrapped

    def prepare_data_loader(self, loader, shuffle=None):
        if self._data_seed is None:
            self._data_seed = self.comm.broadcast_object(int(mytorch.initial_seed()) % 2 ** 32)
        wrapped = DataLoaderShard(loader, self.process_index, self.num_processes,
                                  seed=self._data_seed + len(self._dataloaders), shuffle=shuffle,
                                  device=self.device if self.device.type == "cuda" else None,
                                  gradient_state=self.gradient_state)
        self._dataloaders.append(wrapped)
        return wrapped

    def unwrap_model(self, model):
        return model.module if isinstance(model, DistributedModel) else model

    def register_for_checkpointing(self, *objects):
        """Objects with state_dict()/load_state_dict() saved and restored by save/load_state."""
        for obj in objects:
            if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
                raise TypeError(f"register_for_checkpointing: {type(obj).__name__} has no "
                                "state_dict()/load_state_dict()")
            self._custom.append(obj)

    # ---- gradients ----

    @contextlib.contextmanager
    def no_sync(self, model=None):
        """backward() inside accumulates gradients locally without communicating."""
        self._no_sync_depth += 1
        try:
            yield
        finally:
            self._no_sync_depth -= 1

    @contextlib.contextmanager
    def accumulate(self, *models):
        """One micro-step: gradients are synchronized (and the optimizer steps) every
        `gradient_accumulation_steps` calls and at the end of the dataloader."""
        self.step += 1
        sync = self.step % self.gradient_accumulation_steps == 0
        if self.gradient_state.end_of_dataloader:
            sync, self.step = True, 0
        self.gradient_state.sync_gradients = sync
        if sync:
            yield
        else:
            with self.no_sync():
                yield

    def backward(self, loss, **kwargs):
        """loss.backward() scaled for accumulation (and fp16), then on sync steps gradients are
        averaged over ranks in fused buckets."""
        self._backward_calls += 1
        self.comm.set_step(self._backward_calls)
        if self.gradient_accumulation_steps > 1:
            loss = loss / self.gradient_accumulation_steps
        sync = self.sync_gradients and self._no_sync_depth == 0
        for m in self._models:
            m.buckets.reset()  # a backward that raised may have left buckets in flight
        self._sending = sync  # the bucket hooks send only now, not in a user's own backward
        try:
            if self.scaler is None:
                loss.backward(**kwargs)
            else:
                with np.errstate(over="ignore", invalid="ignore"):  # overflow: the step is skipped
                    (loss * self.scaler.scale).backward(**kwargs)
        finally:
            self._sending = False
        if sync:
            self._sync_gradients()

    def _sync_gradients(self):
        fp16 = self.scaler is not None
        if self.num_processes == 1 and not fp16:
            return
        scale = 1.0 / self.scaler.scale if fp16 else 1.0
        found_inf = False
        for m in self._models:
            # the finite check reads the summed buckets (the same on every rank, so every rank
            # skips alike) and comes back with the gradient flags: one host sync per step in
            # fp16, none in fp32 when every parameter has a gradient. Buckets that left during
            # backward are waited for here, the others sent now.
            reduce = m.buckets.finish if m.bucket_hooks else m.buckets.reduce
            finite = reduce(self.comm, average=True, scale=scale, check_finite=fp16)
            found_inf = found_inf or (fp16 and not finite)
        self._found_inf = found_inf

    def clip_grad_norm_(self, parameters, max_norm, norm_type=2.0):
        """Clip by the total norm of the averaged gradients (the same on every rank and for any
        world size); returns that norm."""
        from mytorch.nn.utils import clip_grad_norm_
        if isinstance(parameters, Module):
            parameters = parameters.parameters()
        return clip_grad_norm_(list(parameters), max_norm, norm_type=norm_type)

    # ---- collectives on tensors ----

    def _map(self, fn, data):
        if isinstance(data, (list, tuple)):
            return type(data)(self._map(fn, d) for d in data)
        if isinstance(data, dict):
            return type(data)((k, self._map(fn, v)) for k, v in data.items())
        return fn(data)

    def _gather_one(self, x):
        is_tensor = isinstance(x, Tensor)
        arr = x.detach().data if is_tensor else x
        if not backend.is_array(arr):
            arr = np.asarray(arr)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        host = self._host_on_gpu_comm(arr)
        parts = self.comm.allgather(backend.to_device(arr, self.device) if host else arr)
        xp = backend.array_module(parts[0])
        out = xp.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        out = backend.to_device(out, "cpu") if host else out
        return Tensor._wrap(out) if is_tensor else out

    def _host_on_gpu_comm(self, arr):
        """A NumPy array meeting NCCL must visit the GPU."""
        return self.comm.name == "nccl" and isinstance(arr, np.ndarray)

    def gather(self, data):
        """Concatenate tensors (or nested lists/dicts of them) from every rank along dim 0, in
        rank order; sizes may differ by rank. 0-d tensors become length-1."""
        return self._map(self._gather_one, data)

    def gather_for_metrics(self, data):
        """gather(), minus the samples that padding duplicated in the last batch of an uneven
        dataset, so an evaluation loop collects exactly len(dataset) items in order. Lists of
        Python objects are gathered too."""
        if isinstance(data, list) and not any(isinstance(d, Tensor) or backend.is_array(d)
                                              for d in data):
            gathered = [x for part in self.comm.allgather_object(data) for x in part]
        else:
            gathered = self.gather(data)
        loader = self.gradient_state.dataloader
        if loader is None or not loader.end_of_dataloader or loader.remainder == 0:
            return gathered
        keep = loader.remainder
        if isinstance(gathered, list) and not any(isinstance(d, Tensor) or backend.is_array(d)
                                                  for d in gathered):
            return gathered[:keep]
        return self._map(lambda t: t[:keep], gathered)

    def reduce(self, data, reduction="sum"):
        """All-reduce tensors (or nested lists/dicts) over ranks: "sum" or "mean"; returns
        new tensors."""
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduce: reduction must be 'sum' or 'mean', got {reduction!r}")

        def one(x):
            is_tensor = isinstance(x, Tensor)
            arr = (x.detach().data if is_tensor else np.asarray(x)).copy()
            if reduction == "mean" and arr.dtype.kind in "iub":
                arr = arr.astype(np.float32)
            if self._host_on_gpu_comm(arr):
                arr = backend.to_device(self.comm.allreduce(
                    backend.to_device(arr, self.device), reduction), "cpu")
            else:
                arr = self.comm.allreduce(arr, reduction)
            return Tensor._wrap(arr) if is_tensor else arr
        return self._map(one, data)

    # ---- checkpoints ----

    def _rng_state(self):
        return {"python": random.getstate(), "numpy": np.random.get_state(),
                "mytorch": mytorch.get_rng_state(),
                "cuda": mytorch.cuda.get_rng_state_all()}  # every GPU's stream, as torch

    def _set_rng_state(self, state):
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        mytorch.set_rng_state(state["mytorch"])
        cuda = state.get("cuda", [])
        if cuda and len(cuda) != mytorch.cuda.device_count():
            print(f"miniddp: checkpoint has {len(cuda)} GPU random streams, this host "
                  f"{mytorch.cuda.device_count()}; restoring the first ones")
        mytorch.cuda.set_rng_state_all(cuda[:mytorch.cuda.device_count()])

    def save_state(self, output_dir):
        """Save model(s) and optimizer(s) (safetensors, `model.safetensors` loads with
        mytorch.load), scheduler(s), loss scaler, dataloader positions, registered objects and
        every rank's RNG state into `output_dir`. All ranks must call it;
        the main process writes, into a temporary folder swapped in at the end."""
        rng = self.comm.allgather_object(self._rng_state())
        if self.is_main_process:
            tensors = {f"model{_suffix(i)}.safetensors": self.unwrap_model(m).state_dict()
                       for i, m in enumerate(self._models)}
            tensors.update({f"optimizer{_suffix(i)}.safetensors": o.state_dict()
                            for i, o in enumerate(self._optimizers)})
            state = {
                "world_size": self.num_processes,
                "step": self.step,
                "models": len(self._models),
                "optimizers": len(self._optimizers),
                "schedulers": [s.state_dict() for s in self._schedulers],
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "dataloaders": [d.state_dict() for d in self._dataloaders],
                "custom": [c.state_dict() for c in self._custom],
                "rng": rng,
            }
            _write_dir_atomically(output_dir, state, tensors)
        self.comm.barrier()

    def load_state(self, input_dir):
        """Restore what save_state wrote; the run then continues exactly where it stopped."""
        path = input_dir if os.path.isdir(input_dir) else input_dir + ".old"
        if not os.path.isdir(path):
            raise FileNotFoundError(f"load_state: no checkpoint folder {input_dir!r}")
        with open(os.path.join(path, "state.pkl"), "rb") as f:
            state = pickle.load(f)
        for kind, ours in (("models", self._models), ("optimizers", self._optimizers),
                           ("schedulers", self._schedulers), ("dataloaders", self._dataloaders),
                           ("custom", self._custom)):
            n = state[kind] if isinstance(state[kind], int) else len(state[kind])
            if n != len(ours):
                raise ValueError(f"load_state: the checkpoint has {n} {kind} but "
                                 f"{len(ours)} were prepared/registered")
        for i, m in enumerate(self._models):
            sd = mytorch.load(os.path.join(path, f"model{_suffix(i)}.safetensors"))
            self.unwrap_model(m).load_state_dict(sd)
        for i, o in enumerate(self._optimizers):
            name = f"optimizer{_suffix(i)}.safetensors"
            o.load_state_dict(mytorch.load(os.path.join(path, name)))
        for s, sd in zip(self._schedulers, state["schedulers"]):
            s.load_state_dict(sd)
        for d, sd in zip(self._dataloaders, state["dataloaders"]):
            d.load_state_dict(sd)
        for c, sd in zip(self._custom, state["custom"]):
            c.load_state_dict(sd)
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]
        rng = state["rng"]
        if len(rng) != self.num_processes:
            print(f"miniddp: checkpoint written by {len(rng)} ranks, loading on "
                  f"{self.num_processes}: RNG states are reused round-robin", file=sys.stderr)
        self._set_rng_state(rng[self.process_index % len(rng)])
        self.comm.barrier()

    # ---- tracking ----

    def init_trackers(self, project_name, config=None, init_kwargs=None):
        """Start the JSON-lines log (and wandb when log_with asks for it) on the main process."""
        if self.is_main_process:
            self.trackers = tracking.make_trackers(self.log_with, project_name, config,
                                                   self.project_dir, init_kwargs)

    def log(self, values, step=None):
        for t in self.trackers:
            try:
                t.log(values, step=step)
            except Exception as e:  # noqa: BLE001 - tracking never stops training
                print(f"miniddp: {t.name} log failed ({type(e).__name__}: {e})", file=sys.stderr)

    def end_training(self):
        for t in self.trackers:
            t.finish()
        self.trackers = []
        self.comm.barrier()


def _suffix(i):
    return "" if i == 0 else f"_{i}"


def _write_dir_atomically(output_dir, state, tensors):
    """Write into `<dir>.tmp` (model and optimizer states as safetensors files, the rest
    pickled), then swap it in; a crash mid-way leaves `<dir>` or `<dir>.old`."""
    output_dir = os.path.normpath(output_dir)
    tmp, old = output_dir + ".tmp", output_dir + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name, obj in tensors.items():
        mytorch.save(obj, os.path.join(tmp, name))
    with open(os.path.join(tmp, "state.pkl"), "wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"world_size": state["world_size"], "step": state["step"],
                   "format": "miniddp-1"}, f)
    if os.path.isdir(output_dir):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(output_dir, old)
    os.replace(tmp, output_dir)
    shutil.rmtree(old, ignore_errors=True)
