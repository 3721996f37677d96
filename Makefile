# mytorch -- `make help` lists the targets.
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# GPU=1: CuPy, its CUDA wheels and NCCL for the driver's CUDA major (CUDA=12|13 overrides)
GPU_STAMP := $(VENV)/.installed-gpu$(CUDA)
EXTRAS ?= dist,experiments,test
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup test test-all lint bench bench-ddp demo data train-mnist train-convnet train-gpt2 \
	sample sample-gpt2 report finetune-gpt2 finetune-llama train-gpt2-char train-gpt2-bpe graph

# Experiment knobs: make train-gpt2 GPUS=2 STEPS=100 BATCH=16 MODEL=tiny DEVICE=cpu BASELINE=0 RESUME=1
DEVICE ?= $(if $(GPUS),auto,cpu)
EXP_ARGS = device=$(DEVICE) $(if $(GPUS),gpus=$(GPUS)) $(if $(STEPS),steps=$(STEPS)) \
	$(if $(BATCH),batch=$(BATCH)) $(if $(BASELINE),baseline=$(BASELINE)) \
	$(if $(RESUME),resume=$(RESUME)) $(if $(LR),lr=$(LR)) $(ARGS)
# The command a report shows: the make target with the variables given on the command line.
FT_ARGS = $(if $(MODEL),model=$(MODEL)) $(if $(UNFROZEN),unfrozen=$(UNFROZEN)) \
	$(if $(FP16),mixed_precision=fp16)
exp_cmd = MYTORCH_EXP_COMMAND='make $(1) $(strip $(MAKEOVERRIDES))'

help:  ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP) $(if $(filter 1,$(GPU)),$(GPU_STAMP))  ## .venv with mytorch and CI's extras; GPU=1 adds CuPy+NCCL (CUDA=12|13)

$(GPU_STAMP): $(STAMP)
	$(PYTHON) scripts/setup_gpu.py $(if $(CUDA),--cuda $(CUDA))
	touch $@

# The fast set (CI's): every family, without the tests marked `slow`; test-all runs those too.
FAST ?= -m "not slow"

test: setup  ## the fast test suite, CI's (CPU; CUDA tests run too when a GPU is present)
	$(PYTHON) -m pytest $(FAST) $(PYTEST_ARGS)

test-all: setup  ## every test, `slow` included, then the same on the CuPy stand-in
	$(PYTHON) -m pytest $(PYTEST_ARGS)
	$(MAKE) test-cuda-standin FAST=

# The CuPy stand-in (tests/cuda_standin): NumPy arrays on 2 pretend GPUs, for tests only.
STANDIN_ENV = PYTHONPATH=$(CURDIR)/tests/cuda_standin:$(CURDIR) CUDA_STANDIN_GPUS=2
.PHONY: test-cuda-standin gpu-check

# Left to `make test`, which runs them the same way: the CuPy API conformance scan and the
# NVRTC compile checks (they need the real CuPy wheel), the numba kernels (numba's CUDA
# simulator, NumPy arrays), the stand-in's own tests (they start it in subprocesses) and
# miniddp's host tools and trackers.
test-cuda-standin: setup  ## the CUDA tests on the CuPy stand-in (no GPU needed): see README
	$(STANDIN_ENV) $(PYTHON) -m pytest -q $(FAST) -k "cuda or standin" --ignore=tests/miniddp \
	  --ignore=tests/cuda/test_sources_compile.py --ignore=tests/cuda/test_fused_kernels.py \
	  --ignore=tests/cuda/test_standin.py --ignore=tests/cuda/test_cupy_conformance.py \
	  tests $(PYTEST_ARGS)
	$(STANDIN_ENV) $(PYTHON) -m pytest -q $(FAST) tests/miniddp --ignore=tests/miniddp/test_host.py \
	  --ignore=tests/miniddp/test_tracking.py $(PYTEST_ARGS)

gpu-check: setup  ## on a GPU host: environment, CUDA tests, timings vs torch -> experiments/gpu/
	$(PYTHON) scripts/gpu_check.py $(ARGS)

lint: setup  ## ruff over the packages and tests
	$(PYTHON) -m pip install -q "ruff==0.17.6"
	$(PYTHON) -m ruff check mytorch miniddp zoo experiments scripts tests

bench: setup  ## mytorch vs PyTorch ratios (ops, layers, GPT-2 124M scale section), ~10 min; BENCH=--quick ~2
	$(PYTHON) scripts/bench.py $(BENCH)

bench-ddp: setup  ## samples/s on 1 and 2 CPU ranks, scaling efficiency, allreduce bandwidth
	$(PYTHON) scripts/bench_ddp.py

data: setup  ## fetch MNIST, Shakespeare and the GPT-2 vocabulary into data/ (offline fallbacks)
	$(PYTHON) scripts/prepare_data.py

train-mnist: setup  ## MNIST MLP in mytorch and PyTorch, then its report
	$(call exp_cmd,train-mnist) $(PYTHON) -m experiments mnist_mlp $(EXP_ARGS)

train-convnet: setup  ## ConvNet with BatchNorm in mytorch and PyTorch, then its report
	$(call exp_cmd,train-convnet) $(PYTHON) -m experiments convnet $(EXP_ARGS)

train-gpt2: setup  ## GPT-2 (default: tiny, Shakespeare, CPU, <10 min); GPUS=N runs N ranks
	$(call exp_cmd,train-gpt2) $(PYTHON) -m experiments gpt2 $(EXP_ARGS) $(if $(MODEL),model=$(MODEL))

CHAR_ARGS = --gpt tiny --set n_layer=4 n_head=5 n_embd=160 block_size=128 --batch-size 24 \
	--lr 2.5e-3 --steps 3000 --eval-batches 20
train-gpt2-char: setup  ## GPT-2 on Shakespeare's characters (hours on a CPU; resumes runs/char.safetensors; ships)
	nice -n 10 $(PYTHON) -m zoo.train gpt2-shakespeare-char $(CHAR_ARGS) --checkpoint runs/char.safetensors --ship

BPE_ARGS = --gpt tiny --set n_layer=4 n_head=4 n_embd=128 block_size=128 dropout=0.1 \
	--batch-size 12 --lr 3e-3 --steps 2000 --eval-batches 20
train-gpt2-bpe: setup  ## GPT-2 on Shakespeare's GPT-2 tokens (about an hour on a CPU; resumes runs/bpe.safetensors; ships)
	nice -n 10 $(PYTHON) -m zoo.train gpt2-shakespeare $(BPE_ARGS) --checkpoint runs/bpe.safetensors --ship

finetune-gpt2: setup  ## fine-tune GPT-2 on Shakespeare, last UNFROZEN blocks (offline: a tiny random one)
	$(call exp_cmd,finetune-gpt2) $(PYTHON) -m experiments finetune_gpt2 $(EXP_ARGS) $(FT_ARGS)

finetune-llama: setup  ## fine-tune a Llama-family model (MODEL=smollm-135m) the same way
	$(call exp_cmd,finetune-llama) $(PYTHON) -m experiments finetune_llama $(EXP_ARGS) $(FT_ARGS)

sample: setup  ## stream text from a zoo language model (MODEL=gpt2-shakespeare-char|smollm-135m|..., PROMPT=...)
	$(PYTHON) scripts/sample.py $(if $(MODEL),--model $(MODEL)) $(if $(PROMPT),--prompt "$(PROMPT)") $(ARGS)

sample-gpt2: setup  ## the same as make sample (kept for old commands)
	$(PYTHON) scripts/sample.py --model $(or $(MODEL),gpt2-shakespeare) $(if $(PROMPT),--prompt "$(PROMPT)") $(ARGS)

graph: setup  ## draw the design document's two example graphs, both engines' orders, to docs/graphs/
	$(PYTHON) scripts/draw_graphs.py

report: setup  ## re-render every experiments/<name>/REPORT.md from its logs
	$(PYTHON) -m experiments.report

demo: setup  ## a tiny autograd demo
	$(PYTHON) -c "import mytorch; a = mytorch.tensor([1.0], requires_grad=True); c = (a + 2) ** 2; c.backward(); print(c, a.grad)"
