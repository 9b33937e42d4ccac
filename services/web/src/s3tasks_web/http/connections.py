"""Litestar's request and connection types, their type parameters filled in once for web.

Web reads no typed user, auth or state off a connection (the session is its own cookie,
`visitors/session.py`), so every parameter is `Any`; one alias keeps `mypy --strict` content
without a type ignore at each handler.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection

WebRequest: TypeAlias = Request[Any, Any, Any]
WebConnection: TypeAlias = ASGIConnection[Any, Any, Any, Any]
