"""`create_app(settings)`: wires settings, database, bucket, jobs, routes and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from PIL import Image
from prometheus_client import CollectorRegistry

from s3tasks_servicekit.graceful import Draining
from s3tasks_servicekit.http_middleware import HttpMetrics, RequestMiddleware
from s3tasks_storage_api.admission import AdmissionController
from s3tasks_storage_api.callers import Credentials
from s3tasks_storage_api.db.engine import (
    make_engine,
    make_session_factory,
)
from s3tasks_storage_api.db.repository import ItemRepository, KindTotals
from s3tasks_storage_api.deletions.controllers import InternalDeletionsController
from s3tasks_storage_api.deletions.service import DeletionService
from s3tasks_storage_api.errors import StorageApiError, handle_unexpected, problem_details
from s3tasks_storage_api.health.controllers import HealthController
from s3tasks_storage_api.items.controllers import ItemsController, SiteConfigurationController
from s3tasks_storage_api.items.listing import ItemListing
from s3tasks_storage_api.items.service import ItemService
from s3tasks_storage_api.jobs.queue import CeleryJobQueue, JobQueue
from s3tasks_storage_api.observability.metrics import (
    ItemsCollector,
    RequestMetrics,
    ShareMetrics,
    UploadMetrics,
)
from s3tasks_storage_api.ratelimits import RateLimitMetrics, RateLimits
from s3tasks_storage_api.settings import StorageApiSettings
from s3tasks_storage_api.shares.controllers import OwnerSharesController, PublicSharesController
from s3tasks_storage_api.shares.service import ShareService
from s3tasks_storage_api.storage.bucket import ObjectStore
from s3tasks_storage_api.storage.lifecycle import keep_lifecycle_rules
from s3tasks_storage_api.storage.signing import Signers
from s3tasks_storage_api.transfers.controllers import LinksController, UploadsController
from s3tasks_storage_api.transfers.service import TransferService
from s3tasks_storage_api.upload_requests.controllers import (
    OwnerRequestsController,
    SenderRequestsController,
)
from s3tasks_storage_api.upload_requests.service import UploadRequestService

logger = logging.getLogger(__name__)


def create_app(settings: StorageApiSettings, *, jobs: JobQueue | None = None) -> Litestar:
    # Pillow's own bomb check is a second line behind the explicit pixel check.
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    store = ObjectStore.from_settings(settings)
    job_queue = jobs if jobs is not None else CeleryJobQueue(settings)
    registry = CollectorRegistry()
    upload_metrics = UploadMetrics(registry)
    rate_limits = RateLimits(settings, RateLimitMetrics(registry))
    items = ItemService(settings, sessions, store, job_queue)
    signers = Signers.from_settings(settings)
    transfers = TransferService(
        settings, sessions, store, signers, items, upload_metrics, rate_limits
    )
    deletions = DeletionService(sessions, store)
    shares = ShareService(settings, sessions, signers, rate_limits, ShareMetrics(registry))
    upload_requests = UploadRequestService(
        settings, sessions, transfers, rate_limits, RequestMetrics(registry)
    )
    listing = ItemListing.on_engine(settings, engine, shares, signers.browser)

    def totals() -> list[KindTotals]:
        with sessions() as session:
            return ItemRepository(session).totals()

    registry.register(ItemsCollector(totals))

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if settings.s3_create_bucket:
            try:
                if await anyio.to_thread.run_sync(store.ensure_bucket):
                    logger.info("created bucket %s", settings.s3_bucket)
            except StorageApiError as exc:
                logger.warning("could not ensure bucket %s: %s", settings.s3_bucket, exc.detail)
        if settings.cors_origin_list:
            try:
                if not await anyio.to_thread.run_sync(
                    store.allow_origins, settings.cors_origin_list
                ):
                    logger.info(
                        "the S3 server has no bucket CORS; on MinIO, set "
                        "MINIO_API_CORS_ALLOW_ORIGIN to the origins instead"
                    )
            except StorageApiError as exc:
                logger.warning(
                    "could not write the CORS rule of bucket %s (%s): browsers cannot send or "
                    "fetch bytes directly until it is set",
                    settings.s3_bucket,
                    exc.detail,
                )
        try:
            yield
        finally:
            job_queue.close()
            engine.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            SiteConfigurationController,
            ItemsController,
            UploadsController,
            LinksController,
            OwnerSharesController,
            PublicSharesController,
            OwnerRequestsController,
            SenderRequestsController,
            InternalDeletionsController,
            AdmissionController,
        ],
        dependencies={
            "items": Provide(lambda: items, use_cache=True, sync_to_thread=False),
            "listing": Provide(lambda: listing, use_cache=True, sync_to_thread=False),
            "transfers": Provide(lambda: transfers, use_cache=True, sync_to_thread=False),
            "deletions": Provide(lambda: deletions, use_cache=True, sync_to_thread=False),
            "shares": Provide(lambda: shares, use_cache=True, sync_to_thread=False),
            "upload_requests": Provide(
                lambda: upload_requests, use_cache=True, sync_to_thread=False
            ),
            "rate_limits": Provide(lambda: rate_limits, use_cache=True, sync_to_thread=False),
            "store": Provide(lambda: store, use_cache=True, sync_to_thread=False),
        },
        state=State(
            {
                "engine": engine,
                "registry": registry,
                "credentials": Credentials.from_settings(settings),
                # set at SIGTERM (s3tasks_servicekit.graceful); /readyz answers 503 then
                "draining": Draining(),
            }
        ),
        plugins=[problem_details()],
        exception_handlers={Exception: handle_unexpected},
        # the CLI configured logging (format, request ids); Litestar's default would replace
        # it with a queued handler of its own that drops the request id and, on SIGKILL,
        # the lines still queued (the deletion audit among them)
        logging_config=None,
        # in this order: the bucket is made (first lifespan) before its rules are checked
        lifespan=[lifespan, keep_lifecycle_rules(settings, store, registry)],
        openapi_config=OpenAPIConfig(
            title="s3tasks storage-api",
            version="1.0.0",
            description="Owns the items database and the bucket. Internal: not exposed publicly.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
    # Litestar runs middleware only for requests that reach a route handler; around the whole
    # app, the request id and the HTTP metrics also cover unrouted 404s and 405s
    app.asgi_handler = RequestMiddleware(
        app.asgi_handler, HttpMetrics(registry, "storage-api"), draining=app.state.draining
    )
    return app
