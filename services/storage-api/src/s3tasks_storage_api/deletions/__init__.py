"""Deletion of due items and reconciliation of the database with the bucket (worker-only API)."""
