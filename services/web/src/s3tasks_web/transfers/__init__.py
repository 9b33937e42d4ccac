"""Bytes on the move: web's own hop to S3 on presigned URLs, uploads on the control plane,
the pace a visitor's body must keep and how many uploads stream through web at once."""
