"""Visitors' images and files: the listing, delete all, the image cap and the image checks."""
