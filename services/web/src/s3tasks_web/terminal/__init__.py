"""The site from a terminal: `curl -T` / `curl -F` uploads and their management URL."""
