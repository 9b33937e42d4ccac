"""Deletion jobs are enqueued on Redis by name; the worker runs them."""
