"""Liveness, readiness and the metrics endpoint."""
