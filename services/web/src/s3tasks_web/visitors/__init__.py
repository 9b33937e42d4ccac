"""Anonymous visitors: a signed session cookie with a random visitor id, and CSRF tokens."""
