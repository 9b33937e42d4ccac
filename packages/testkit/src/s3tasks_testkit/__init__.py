"""Real backing services and s3tasks services on loopback, for the tests, the benchmarks, the
load runs and `make run` (packages/devstack starts its stack with this code).

Everything binds 127.0.0.1 on a port the kernel picks (a listening socket is made here and
handed to the child process), every run gets its own database, Redis key prefix and bucket,
and everything is removed again on exit.
"""
