"""web's front: the nginx before web that carries proxy-mode downloads from S3 itself.

web answers a download with `X-Accel-Redirect: /_s3tasks/object<path>?<query>` of the GET
storage-api presigned (`transfers/responses.py`); the front fetches it from S3 (Range and the
validators passed, nothing else of the visitor's), hides what S3 says of itself, and puts
web's own headers on S3's answer. A refusal of S3's (416, 404, 403, 5xx, S3 unreachable) is
handed back to web with the statuses in ACCEL_FAILED_HEADER: web then relays that request
itself and answers in the site's words, as it does without a front. Everything else
(pages, uploads) passes to web as it comes: no body limit, nothing buffered.

One config for every place the front runs: `s3tasks-web front` in the web image (the chart's
sidecar, compose's service), and testkit's stacks (`make run`, the tests, the bench), which
render the same text with their own settings.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from s3tasks_servicekit.settings import settings_or_exit
from s3tasks_web.settings import FrontSettings
from s3tasks_web.transfers.responses import (
    ACCEL_CACHE_CONTROL_HEADER,
    ACCEL_FAILED_HEADER,
    ACCEL_LOCATION,
)

#: web's headers an X-Accel-Redirect answer loses (nginx keeps only Set-Cookie, Cache-Control,
#: Expires, Content-Disposition and Accept-Ranges of it), put back on S3's answer: the
#: security headers, the request id, and web's Cache-Control under its carrier's name
CARRIED_HEADERS = {
    "Content-Security-Policy": "content_security_policy",
    "X-Content-Type-Options": "x_content_type_options",
    "Referrer-Policy": "referrer_policy",
    "X-Frame-Options": "x_frame_options",
    "Cross-Origin-Opener-Policy": "cross_origin_opener_policy",
    "Permissions-Policy": "permissions_policy",
    "Strict-Transport-Security": "strict_transport_security",
    "X-Robots-Tag": "x_robots_tag",
    "X-Request-Id": "x_request_id",
    "Cache-Control": ACCEL_CACHE_CONTROL_HEADER.replace("-", "_"),
}
#: what S3 (AWS, MinIO, radosgw) says of itself beyond the object's own headers: web's relay
#: passes none of it on (`transfers/objects.py`, PASSED_RESPONSE_HEADERS), nor does the front
S3_OWN_HEADERS = (
    "Expires",
    "Content-Encoding",
    "Content-Language",
    "Vary",
    "X-Xss-Protection",
    "X-Ratelimit-Limit",
    "X-Ratelimit-Remaining",
    "X-Amz-Request-Id",
    "X-Amz-Id-2",
    "X-Amz-Bucket-Region",
    "X-Amz-Version-Id",
    "X-Amz-Delete-Marker",
    "X-Amz-Expiration",
    "X-Amz-Restore",
    "X-Amz-Storage-Class",
    "X-Amz-Server-Side-Encryption",
    "X-Amz-Replication-Status",
    "X-Amz-Tagging-Count",
    "X-Amz-Mp-Parts-Count",
    "X-Amz-Website-Redirect-Location",
    "X-Amz-Object-Lock-Mode",
    "X-Amz-Object-Lock-Retain-Until-Date",
    "X-Amz-Object-Lock-Legal-Hold",
    "X-Amz-Checksum-Crc32",
    "X-Amz-Checksum-Crc32c",
    "X-Amz-Checksum-Crc64nvme",
    "X-Amz-Checksum-Sha1",
    "X-Amz-Checksum-Sha256",
    "X-Amz-Checksum-Type",
    "X-Rgw-Object-Type",
)
#: the front's own liveness, answered by nginx (the chart's probe of the sidecar)
FRONT_HEALTH_PATH = "/_s3tasks/front/healthz"
#: S3's statuses (and nginx's own when S3 cannot be reached) handed back to web
HANDED_BACK = "400 403 404 405 409 412 416 500 501 502 503 504"
_LEVELS = {"DEBUG": "debug", "INFO": "notice", "WARNING": "warn", "ERROR": "error"}

_CONF = """\
# web's front (s3tasks_web/transfers/front.py); rendered, not edited
worker_processes {workers};
pid {state}/nginx.pid;
error_log {error_log} {level};
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    # web sets the limits of every body (the upload's kind, its pace) and streams them on
    client_max_body_size 0;
    # web's own answers may carry long headers (a flash naming a 1024-character file name)
    large_client_header_buffers 4 32k;
    proxy_buffer_size 64k;
    proxy_buffers 8 64k;
    proxy_http_version 1.1;

    upstream s3tasks_web {{
        server {web};
        keepalive 32;
    }}
    upstream s3tasks_s3 {{
        server {s3_server};
        keepalive 32;
    }}

    server {{
        listen {listen};

        location / {{
            proxy_pass http://s3tasks_web;
{to_web}        }}

        # the front's own liveness (the pod's probe): nginx answers, whatever web does
        location = {health} {{
            default_type text/plain;
            return 200 "ok\n";
        }}

        # web's X-Accel-Redirect: the presigned GET's path and query, fetched from S3 with
        # the Host it was signed for, the visitor's Range and validators and nothing else
        location ~ ^{accel}(?<object_path>/.*)$ {{
            internal;
{carry}            proxy_pass {s3_scheme}://s3tasks_s3$object_path$is_args$args;
{tls}            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Host {s3_host};
            proxy_set_header Connection "";
            proxy_set_header Range $http_range;
            proxy_set_header If-Range $http_if_range;
            proxy_set_header If-None-Match $http_if_none_match;
            proxy_set_header If-Modified-Since $http_if_modified_since;
            proxy_connect_timeout 3s;
            proxy_read_timeout {s3_read}s;
            # held in memory only, read from S3 as fast as the visitor takes it
            proxy_buffering on;
            proxy_buffers 16 64k;
            proxy_max_temp_file_size 0;
{hide}{add}            proxy_intercept_errors on;
            error_page {handed_back} = @relay_in_web;
        }}

        # S3 refused the front's fetch: web answers that request itself, in its own words
        location @relay_in_web {{
            proxy_pass http://s3tasks_web$request_uri;
{relay}        }}
    }}
}}
"""
_TO_WEB = """\
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header {failed_header} {failed};
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout {timeout}s;
            proxy_send_timeout {timeout}s;
"""


def front_conf(settings: FrontSettings) -> str:
    """The front's nginx.conf for these settings."""
    s3 = settings.s3_endpoint
    s3_port = s3.port or (443 if s3.scheme == "https" else 80)
    default_port = s3_port == (443 if s3.scheme == "https" else 80)
    # SigV4 signed the Host as the client sent it: the port only when it is not the default
    s3_host = s3.host if default_port else f"{s3.host}:{s3_port}"
    web = settings.web_url
    timeout = _seconds(settings.web_timeout_seconds)
    # only the front hands a request back: a client's own copy of the header never reaches web
    to_web = _TO_WEB.format(timeout=timeout, failed_header=ACCEL_FAILED_HEADER, failed='""')
    relay = _TO_WEB.format(
        timeout=timeout, failed_header=ACCEL_FAILED_HEADER, failed='"$upstream_status"'
    )
    return _CONF.format(
        workers=settings.worker_processes,
        state=settings.state_dir,
        error_log=settings.error_log,
        level=_LEVELS[settings.log_level],
        web=f"{web.host}:{web.port}",
        s3_server=f"{s3.host}:{s3_port}",
        s3_scheme=s3.scheme,
        s3_host=s3_host,
        listen=f"{settings.host}:{settings.port}",
        accel=ACCEL_LOCATION,
        health=FRONT_HEALTH_PATH,
        to_web=to_web,
        relay=relay,
        tls=(
            f"            proxy_ssl_server_name on;\n            proxy_ssl_name {s3.host};\n"
            if s3.scheme == "https"
            else ""
        ),
        carry="".join(
            f"            set $web_{var} $upstream_http_{var};\n"
            for var in CARRIED_HEADERS.values()
        ),
        hide="".join(
            f"            proxy_hide_header {name};\n"
            for name in (*CARRIED_HEADERS, *S3_OWN_HEADERS)
        ),
        add="".join(
            f"            add_header {name} $web_{var} always;\n"
            for name, var in CARRIED_HEADERS.items()
        ),
        s3_read=_seconds(settings.s3_read_timeout_seconds),
        handed_back=HANDED_BACK,
    )


def _seconds(value: float) -> str:
    return str(max(1, round(value)))


def run_front() -> None:
    """`s3tasks-web front`: write the config into WEB_FRONT_STATE_DIR and become nginx."""
    settings = settings_or_exit(FrontSettings, "s3tasks-web front")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("s3tasks-web front: nginx is not installed")
    # nginx reads relative paths from its prefix: every path absolute, from where we run
    state = Path(settings.state_dir).resolve()
    error_log = settings.error_log
    if error_log != "stderr":
        error_log = str(Path(error_log).resolve())
    settings = settings.model_copy(update={"state_dir": str(state), "error_log": error_log})
    state.mkdir(parents=True, exist_ok=True)
    conf = state / "nginx.conf"
    conf.write_text(front_conf(settings))
    # nginx in the foreground, as the container's (or the caller's) own process: SIGQUIT
    # drains (finishes what is in flight), SIGTERM stops at once
    argv = [nginx, "-g", "daemon off;", "-p", str(state), "-e", settings.error_log]
    os.execv(nginx, [*argv, "-c", str(conf)])  # noqa: S606 - nginx, by its absolute path
