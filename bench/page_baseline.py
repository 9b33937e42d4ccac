"""The fair baseline of case 6: the same work as a page view of My Images, in one process.

One Litestar app, served by uvicorn with as many worker processes as web and storage-api run
together in the bench, that does what the two services do for `GET /images` and nothing
more: verifies the visitor's signed session cookie (web's `SessionCookie`), runs the listing
(storage-api's own services on the same PostgreSQL through the same driver and pool, in a
worker thread as storage-api runs it) and renders web's `images.html` with the context web
builds (web's view helpers). What it leaves out is what the split into services adds: the
HTTP hop between them, the JSON both ways, the second app's routing and middleware.

`listing()` is the one seam that says what storage-api does for a page view: when the page
changes its calls to storage-api, change that function, and the baseline follows.

Served by `python -m bench.serve bench.page_baseline:create_app --workers 2 ...`, configured
by the union of web's and storage-api's environment (`bench/pages.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig
from prometheus_client import CollectorRegistry

from s3tasks_contracts import ItemKind, ItemList
from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.db.engine import make_engine, make_session_factory
from s3tasks_storage_api.items.listing import ItemListing
from s3tasks_storage_api.items.service import ItemService
from s3tasks_storage_api.observability.metrics import ShareMetrics
from s3tasks_storage_api.ratelimits import RateLimitMetrics, RateLimits
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.shares.service import ShareService
from s3tasks_storage_api.storage.bucket import ObjectStore
from s3tasks_storage_api.storage.signing import Signers
from s3tasks_web.app import TEMPLATES_DIR, static_url
from s3tasks_web.pages.kinds import IMAGES, KindPage
from s3tasks_web.pages.share_rows import share_rows
from s3tasks_web.pages.views import deleted_after, item_views
from s3tasks_web.settings import WebSettings
from s3tasks_web.visitors.csrf import CSRF_QUERY_PARAM, CsrfTokens
from s3tasks_web.visitors.session import SessionCodec, SessionCookie


class NoJobs:
    """The listing enqueues nothing; the job queue `ItemService` wants is never called."""

    def purge_visitor(self, visitor_id: str) -> None:
        raise RuntimeError("the page baseline enqueues no jobs")

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class StorageSide:
    """storage-api's services, built as its `create_app` builds them."""

    items: ItemService
    listing: ItemListing

    @classmethod
    def from_settings(cls, settings: StorageApiSettings) -> StorageSide:
        engine = make_engine(settings)
        sessions = make_session_factory(engine)
        registry = CollectorRegistry()
        items = ItemService(settings, sessions, ObjectStore.from_settings(settings), NoJobs())
        signers = Signers.from_settings(settings)
        rate_limits = RateLimits(settings, RateLimitMetrics(registry))
        shares = ShareService(settings, sessions, signers, rate_limits, ShareMetrics(registry))
        listing = ItemListing.on_engine(settings, engine, shares, signers.browser)
        return cls(items, listing)


def listing(storage: StorageSide, visitor_id: str, page: KindPage) -> ItemList:
    """THE SEAM: what storage-api does for one page view, today one listing that carries the
    items with their share links (and in `direct` mode their S3 links): web's `page_context`."""
    return storage.listing.list(visitor_id, page.kind)


def page_context(
    storage: StorageSide, found: ItemList, page: KindPage, site: str
) -> dict[str, Any]:
    """The context web's page handler gives the template (`VisitorItems.page_context`), from
    web's own view helpers."""
    limits = storage.items.site_configuration()
    max_bytes = page.max_bytes(limits)
    views = item_views(found)
    shown = views if page.kind is ItemKind.IMAGE else views[:1]
    shares = share_rows(found, {view.id for view in shown}, site)
    return {
        "page": page,
        "items": views,
        "latest": views[0] if views else None,
        "limits": limits,
        "max_bytes": max_bytes,
        "max_size": human_size(max_bytes),
        "deleted_after": deleted_after(page.ttl_seconds(limits)),
        "transfer_mode": limits.transfer_mode.value,
        "shares": shares,
    }


def create_app() -> Litestar:
    """uvicorn's factory: settings from the environment, as the services read theirs."""
    web = WebSettings()  # from the environment
    storage = StorageSide.from_settings(StorageApiSettings())
    secret = web.secret_key.get_secret_value()
    cookie = SessionCookie(
        codec=SessionCodec(secret),
        name=web.session_cookie_name,
        max_age_seconds=web.session_max_age_seconds,
        secure=web.production,
    )
    csrf = CsrfTokens(secret)

    @get("/images")
    async def images(request: Request[Any, Any, Any]) -> Template:
        visitor = cookie.load(request)
        if visitor.is_new:
            raise NotAuthorizedException("the bench's visitor has a session")
        found = await anyio.to_thread.run_sync(listing, storage, visitor.visitor_id, IMAGES)
        site = str(request.base_url).rstrip("/")
        return Template(IMAGES.template, context=page_context(storage, found, IMAGES, site))

    @get("/readyz", sync_to_thread=False)
    def readyz() -> dict[str, str]:
        return {"status": "ok"}

    assets = {name: static_url(name) for name in ("style.css", "logo.svg", "upload.js", "share.js")}

    def configure_templates(engine: JinjaTemplateEngine) -> None:
        # as web's `create_app` configures its engine
        engine.engine.globals.update(
            static=assets,
            csrf_param=CSRF_QUERY_PARAM,
            csrf_token=lambda request: csrf.token_for(cookie.load(request)),
            flashes=lambda request: cookie.load(request).pop_flashes(),
        )
        engine.engine.auto_reload = False
        for name in engine.engine.list_templates():
            engine.engine.get_template(name)

    return Litestar(
        route_handlers=[images, readyz],
        before_send=[cookie.before_send_hook()],
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=configure_templates
        ),
        state=State({}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
