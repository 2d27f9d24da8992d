"""Benchmarks (not part of the default test suite): `scripts/bench`."""
