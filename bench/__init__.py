"""Benchmarks for consent-hub (run from the repository root: ``python -m bench.bench_vault``)."""
