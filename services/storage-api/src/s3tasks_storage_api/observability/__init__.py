"""Metrics, structured logs and the request id."""
