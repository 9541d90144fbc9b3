"""Benchmarks: each module has `main(argv)` and prints a table of side-by-side ratios from one run."""
