"""The app factory: every route, dependency, hook and resource of web wired in one place."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from s3tasks_servicekit.graceful import Draining
from s3tasks_servicekit.http_middleware import HttpMetrics, RequestMiddleware
from s3tasks_web.api.errors import unrouted_below_the_api
from s3tasks_web.api.router import api_openapi_config, api_router
from s3tasks_web.dependencies import (
    Connections,
    WebServices,
    connect,
    disconnect,
    provide_storage,
    web_state,
)
from s3tasks_web.health import HealthController
from s3tasks_web.http.client_address import ClientAddresses
from s3tasks_web.http.forms import TextRequest
from s3tasks_web.http.lingering import LingeringCloseMiddleware
from s3tasks_web.http.security_headers import security_headers_hook
from s3tasks_web.http.share_paths import is_capability_path, loggable_path
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.pages.controllers import items_controller
from s3tasks_web.pages.errors import ErrorPages
from s3tasks_web.pages.kinds import FILES, IMAGES, KindPage
from s3tasks_web.pages.qr import qr_svg
from s3tasks_web.pages.routes import page_opt, provide_page
from s3tasks_web.settings import WebSettings
from s3tasks_web.shares.owner import shares_controller
from s3tasks_web.shares.public import PublicShareController
from s3tasks_web.storage_api_client import (
    SiteConfigurationCache,
    StorageApiClient,
    build_http_client,
)
from s3tasks_web.terminal.manage import ManageController
from s3tasks_web.terminal.named_puts import NamedPuts
from s3tasks_web.terminal.uploads import TerminalUploadController
from s3tasks_web.transfers.objects import ObjectClient, build_object_http_client
from s3tasks_web.transfers.slots import UploadSlots
from s3tasks_web.upload_requests.owner import OwnerRequestsController
from s3tasks_web.upload_requests.sender import SenderController
from s3tasks_web.uploads.form import FormUploadController
from s3tasks_web.uploads.parts import PartUploadsController
from s3tasks_web.uploads.script import ScriptUploadsController
from s3tasks_web.visitors.admission import AdmissionGuard, admission_guard
from s3tasks_web.visitors.csrf import CSRF_QUERY_PARAM, CsrfTokens, csrf_guard
from s3tasks_web.visitors.session import SessionCodec, SessionCookie

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
#: small urlencoded forms only; the upload routes lift this limit and enforce their own.
SMALL_FORM_MAX_BYTES = 64 * 1024


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect(IMAGES.path)


#: where an ingress sends a body over its limit (`error_page 413`; deploy/, README "Ingress")
TOO_LARGE_PATH = "/upload-too-large"
TOO_LARGE_MESSAGE = (
    "That upload is larger than this site accepts in a single request, so it was refused "
    "before it arrived. With JavaScript turned on, the upload form sends large files in parts "
    "and they go through; without it, please choose a smaller file."
)


@get(TOO_LARGE_PATH, include_in_schema=False, status_code=413)
async def upload_too_large() -> Template:
    """The body of the ingress's own 413: the visitor reads why, not a proxy's bare page."""
    return Template(
        "error.html",
        context={"title": "Too large for one request", "message": TOO_LARGE_MESSAGE},
        status_code=413,
    )


def static_url(name: str) -> str:
    """A cache-busting URL for a static file (its content hash in the query)."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def page_router(page: KindPage, admission: AdmissionGuard) -> Router:
    """A page and everything below it: its own routes, its uploads. The router's `opt` says
    which page each of them belongs to (`pages/routes.py`)."""
    return Router(
        path=page.path,
        opt=page_opt(page),
        guards=[admission],
        dependencies={"page": Provide(provide_page, sync_to_thread=False)},
        route_handlers=[
            items_controller(page),
            shares_controller(page),
            FormUploadController,
            ScriptUploadsController,
            PartUploadsController,
            # the files senders send through upload requests land on My Files
            *([OwnerRequestsController] if page is FILES else []),
        ],
    )


def create_app(settings: WebSettings) -> Litestar:
    secret = settings.secret_key.get_secret_value()
    # storage-api's site configuration as last told: every storage-api client of this app
    # shares it, and the pages' CSP reads its S3 origin with no request
    site_configuration = SiteConfigurationCache(settings.limits_cache_seconds)
    services = WebServices(
        settings=settings,
        session_cookie=SessionCookie(
            codec=SessionCodec(secret),
            name=settings.session_cookie_name,
            max_age_seconds=settings.session_max_age_seconds,
            secure=settings.production,
        ),
        csrf_tokens=CsrfTokens(secret),
        metrics=WebMetrics.create(),
        upload_slots=UploadSlots(capacity=settings.max_concurrent_uploads),
        client_addresses=ClientAddresses(settings.client_address_header, settings.trusted_proxies),
    )
    session_cookie = services.session_cookie

    @asynccontextmanager
    async def http_clients(app: Litestar) -> AsyncIterator[None]:
        async with (
            build_http_client(settings) as http,
            build_object_http_client(settings) as object_http,
        ):
            storage = StorageApiClient(http, settings.storage_api_base, site_configuration)
            connect(app.state, Connections(storage=storage, objects=ObjectClient(object_http)))
            try:
                yield
            finally:
                disconnect(app.state)

    assets = {
        name: static_url(name)
        for name in ("style.css", "logo.svg", "upload.js", "share.js", "decrypt-worker.js")
    }

    def configure_templates(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals.update(
            static=assets,
            csrf_param=CSRF_QUERY_PARAM,
            # the upload requests' panel draws its links' codes (pages/ knows no shares/)
            qr_svg=qr_svg,
            csrf_token=lambda request: services.csrf_tokens.token_for(session_cookie.load(request)),
            flashes=lambda request: session_cookie.load(request).pop_flashes(),
        )
        # The templates ship with the package and never change while it runs: compile each
        # once now, and let no render stat every template file to see whether it changed.
        engine.engine.auto_reload = False
        for name in engine.engine.list_templates():
            engine.engine.get_template(name)

    def s3_browser_origin() -> str | None:
        return site_configuration.s3_browser_origin

    error_handlers = ErrorPages(services.metrics, session_cookie).handlers()
    error_handlers[HTTPException] = unrouted_below_the_api(error_handlers[HTTPException])
    admission = admission_guard(session_cookie, services.client_addresses, provide_storage)
    app = Litestar(
        route_handlers=[
            # the site: pages, links, the terminal's ways in; one registration for `/` (the
            # home page's GET and a terminal's PUT and POST: Litestar refuses two of one path,
            # each with its own OPTIONS). None of it is in the OpenAPI document.
            Router(
                path="/",
                include_in_schema=False,
                route_handlers=[
                    home,
                    TerminalUploadController,
                    upload_too_large,
                    HealthController,
                    page_router(IMAGES, admission),
                    page_router(FILES, admission),
                    PublicShareController,
                    SenderController,
                    ManageController,
                    create_static_files_router(
                        path="/static",
                        directories=[STATIC_DIR],
                        cache_control=CacheControlHeader(
                            max_age=settings.static_max_age_seconds, public=True
                        ),
                        include_in_schema=False,
                    ),
                ],
            ),
            # the public JSON API and its OpenAPI document (`openapi_config`)
            api_router(),
        ],
        guards=[csrf_guard(services.csrf_tokens, session_cookie)],
        # every form's fields (and the script's JSON) are UTF-8 or a 400 in words (http/forms.py)
        request_class=TextRequest,
        middleware=[LingeringCloseMiddleware()],
        before_send=[
            security_headers_hook(
                settings.production,
                settings.hsts_max_age_seconds,
                s3_browser_origin,
                capability_path=is_capability_path,
            ),
            session_cookie.before_send_hook(sessionless=is_capability_path),
        ],
        exception_handlers=error_handlers,
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR,
            engine=JinjaTemplateEngine,
            engine_callback=configure_templates,
        ),
        lifespan=[http_clients],
        # `draining`: set at SIGTERM (s3tasks_servicekit.graceful); /readyz answers 503 then
        state=web_state(services, draining=Draining()),
        request_max_body_size=SMALL_FORM_MAX_BYTES,
        openapi_config=api_openapi_config(),
        logging_config=None,
        debug=False,
    )
    # Litestar runs middleware only for requests that reach a route handler; around the whole
    # app, the request id and the HTTP metrics also cover unrouted 404s and 405s
    app.asgi_handler = RequestMiddleware(
        NamedPuts(app.asgi_handler),
        HttpMetrics(services.metrics.registry, "web"),
        access_log=logging.getLogger("s3tasks_web.http"),
        log_path=loggable_path,
        draining=app.state.draining,
    )
    return app
