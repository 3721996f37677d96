"""Benchmark cases for scripts/bench.py.

Each module here defines `CASES`: a list of `(name, setup)` where `setup()` returns
`(mytorch_step, torch_step)`, two zero-argument callables doing the same work (e.g. one
forward+backward). bench.py times both in the same run and prints the ratio.
"""
