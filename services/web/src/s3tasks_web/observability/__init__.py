"""Logs, request ids and Prometheus metrics."""
