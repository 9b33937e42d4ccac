"""A service's /metrics page as the tests and the load run read it, and how much its
counters grew while a test acted (`Growth`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """Every sample of one /metrics page, keyed by sample name and labels."""

    samples: dict[tuple[str, Labels], float]

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def refusals(self, name: str = "s3tasks_uploads_total") -> float:
        """Uploads with any outcome but success/stored."""
        return sum(
            v
            for (n, ls), v in self.samples.items()
            if n == name and dict(ls).get("outcome") not in ("success", "stored")
        )

    def deleted(self, reason: str, kind: str) -> float:
        return self.value("s3tasks_deleted_objects_total", reason=reason, kind=kind)

    def jobs(self, reason: str, outcome: str) -> float:
        return self.value("s3tasks_deletion_jobs_total", reason=reason, outcome=outcome)

    def total_deleted(self) -> float:
        return self.total("s3tasks_deleted_objects_total")


def scrape(base_url: str) -> Scrape:
    """The /metrics page at `base_url` (web's metrics port, storage-api, a worker)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return Scrape(
        {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    )


@dataclass
class Growth:
    """How much the counters at `base_url` grew since this was made: a scrape now, another
    when `read()` is called; `grew()` compares the two. For a service other tests share (a
    module's stack), where a counter's absolute value says nothing.

        growth = Growth(api.url)
        ...  # what the test does
        growth.read()
        assert growth.grew("s3tasks_share_downloads_total", outcome="granted") == 1
    """

    base_url: str
    before: Scrape = field(init=False)
    after: Scrape | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.before = scrape(self.base_url)

    def read(self) -> Growth:
        """Scrape again: `grew()` compares with this one from now on."""
        self.after = scrape(self.base_url)
        return self

    def grew(self, name: str, **labels: str) -> float:
        """How much `name` (summed over its series whose labels include `labels`) grew between
        the first scrape and the last `read()`."""
        assert self.after is not None, "read() after the action, then ask what grew"
        return self.after.total(name, **labels) - self.before.total(name, **labels)

    def grew_now(self, name: str, **labels: str) -> float:
        """`grew()` after a `read()` now."""
        return self.read().grew(name, **labels)
