"""A service's /metrics page as the tests and the load run read it."""

from __future__ import annotations

from dataclasses import dataclass

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
