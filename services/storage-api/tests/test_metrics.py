"""storage-api's HTTP metrics and request id (the shared middleware): every answer is counted,
the unrouted 404s and 405s included, as route `unmatched`."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from s3tasks_testkit.storage_api import Api


def _requests_counted(client: httpx.Client) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "s3tasks_http_requests_total"
        and sample.labels["service"] == "storage-api"
    }


def test_every_answer_is_counted_unrouted_404s_and_405s_included(api: Api) -> None:
    with api.client() as client:
        before = _requests_counted(client)
        answers = [
            ("GET", "/no-such-path"),  # no route: 404
            ("DELETE", "/healthz"),  # a route without that method: 405
            ("GET", "/healthz"),
        ]
        statuses = [client.request(method, path).status_code for method, path in answers]
        assert statuses == [404, 405, 200]
        after = _requests_counted(client)
        unrouted = client.get("/no-such-path", headers={"X-Request-ID": "job-7"})

    def counted(method: str, route: str, status: str) -> float:
        key = (method, route, status)
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert counted("GET", "unmatched", "404") == 1
    assert counted("DELETE", "unmatched", "405") == 1
    assert counted("GET", "/healthz", "200") == 1
    # the request id binds before routing: an unrouted answer carries it too
    assert unrouted.headers["x-request-id"] == "job-7"
