"""Schemathesis against `/api/v1` on the running stack, from the document the site serves: no
answer is a server error and every answer matches the document (status, headers, body)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from s3tasks_testkit.stack import Stack

#: generated cases per operation: enough to reach every refusal, few enough for a test run
EXAMPLES = 25


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error_or_an_answer_off_the_document(
    stack: Stack, tmp_path: Path
) -> None:
    assert stack.web is not None
    site = stack.web.url
    token = httpx.post(f"{site}/api/v1/visitors").json()["token"]
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{site}/api/v1/openapi.json",
            "--url",
            site,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_headers_conformance,response_schema_conformance",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "37",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
