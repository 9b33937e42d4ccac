"""The site's own address, which the links shown to visitors are made with."""

from __future__ import annotations

from s3tasks_web.http.connections import WebRequest
from s3tasks_web.settings import WebSettings


def site_url(request: WebRequest, settings: WebSettings) -> str:
    """The site's address as visitors reach it, which the links shown to owners are made
    with: the operator's WEB_PUBLIC_URL (required in production: only the operator knows the
    https:// address a TLS ingress serves). Without one (development), the scheme and local
    address of web's own socket the request arrived at, as the server saw them. Never the
    `Host` or `X-Forwarded-*` headers: whoever sends the request writes them, and a page
    fetched with `Host: evil.example` would hand its owner a link to the attacker's site."""
    configured = settings.public_url
    if configured is not None:
        return str(configured).rstrip("/")
    scheme = request.scope["scheme"]
    host, port = request.scope.get("server") or (None, None)
    if host is None or port is None:  # a socket with no address (a Unix socket): the settings'
        host, port = settings.host, settings.port
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default_port else f"{scheme}://{host}:{port}"
