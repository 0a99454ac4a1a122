"""Benchmarks: each script compares GAIA Lab with a peer in the same process and prints ratios."""
