"""s3tasks benchmarks: each case a ratio against a baseline measured in the same run.

Run with `make bench` (full) or `make bench-quick`; see bench/README.md.
"""
