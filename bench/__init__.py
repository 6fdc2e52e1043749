"""Benchmarks (not tests): ``python -m bench.solver``."""
