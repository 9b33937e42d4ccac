"""storage-api's HTTP metrics and request id (the shared middleware): every answer is counted,
the unrouted 404s and 405s included, as route `unmatched`."""

from __future__ import annotations

from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.storage_api import Api


def test_every_answer_is_counted_unrouted_404s_and_405s_included(api: Api) -> None:
    answers = [
        ("GET", "/no-such-path"),  # no route: 404
        ("DELETE", "/healthz"),  # a route without that method: 405
        ("GET", "/healthz"),
    ]
    growth = Growth(api.url)
    with api.client() as client:
        statuses = [client.request(method, path).status_code for method, path in answers]
        unrouted = client.get("/no-such-path", headers={"X-Request-ID": "job-7"})
    growth.read()
    assert statuses == [404, 405, 200]

    def counted(method: str, route: str, status: str) -> float:
        labels = {"service": "storage-api", "method": method, "route": route, "status": status}
        return growth.grew("s3tasks_http_requests_total", **labels)

    assert counted("GET", "unmatched", "404") == 2
    assert counted("DELETE", "unmatched", "405") == 1
    assert counted("GET", "/healthz", "200") == 1
    # the request id binds before routing: an unrouted answer carries it too
    assert unrouted.headers["x-request-id"] == "job-7"
