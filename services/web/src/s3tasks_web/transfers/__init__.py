"""Bytes on the move: web's own hop to S3 on presigned URLs, uploads on the control plane,
and the pace a visitor's body must keep."""
