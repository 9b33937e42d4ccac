"""Uploads: the rules both ways share (`rules.py`), the plain form's streamed upload and the
upload script's steps (started, sent in parts, completed or aborted)."""
