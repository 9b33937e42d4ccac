"""Visitors' images and files: upload, list, read, delete all, and the image cap."""
