"""Benchmark harness for tavaal_jax (issue 6): `python -m benchmarks.run --out FILE.json`.

Not part of the package: PyTorch (requirements-bench.txt) is used here only, as the
comparator, and never by `tavaal_jax`.
"""
