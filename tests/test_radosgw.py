"""The test kit's single-node Ceph: it starts, serves S3, fails clearly and leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3tasks_testkit import ports, radosgw
from s3tasks_testkit.ports import PortTaken, free_loopback_ports, listening_ports
from s3tasks_testkit.processes import bind_loopback, port_of
from s3tasks_testkit.radosgw import ceph_cluster


def _alive(pid: int) -> bool:
    """Running and not a zombie (a reaped child has no /proc entry at all)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_a_cluster_serves_s3_and_leaves_no_process_or_file(tmp_path: Path) -> None:
    with ceph_cluster(tmp_path / "logs") as cluster:
        assert cluster.endpoint is not None
        daemons = [cluster.mon, cluster.osd, cluster.gateway]
        pids = [d.pid for d in daemons if d is not None]
        assert len(pids) == 3
        assert cluster.gateway is not None
        port = int(cluster.endpoint.url.rsplit(":", 1)[1])
        assert listening_ports(cluster.gateway.pid) == {port}
        client = cluster.endpoint.client()
        client.make_bucket("s3tasks-kit-check")
        assert [b.name for b in client.list_buckets()] == ["s3tasks-kit-check"]
        scratch = cluster.scratch
        assert (scratch / "ceph.conf").is_file()
    assert [pid for pid in pids if _alive(pid)] == []
    assert not scratch.exists()
    assert (tmp_path / "logs" / "radosgw.log").stat().st_size > 0  # the logs stay, for CI


def test_a_daemon_that_cannot_start_fails_at_once_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = bind_loopback()
    # the monitor's port is taken between being chosen and being bound, as a race would do,
    # on every attempt: the kit retries with a new port, then gives up with the log
    monkeypatch.setattr(ports, "free_loopback_ports", lambda count: (port_of(taken),))
    try:
        with (
            pytest.raises(PortTaken) as failure,
            ceph_cluster(tmp_path / "logs", radosgw.CephOptions(ready_timeout=600)),
        ):
            pytest.fail("the cluster started on a taken port")
    finally:
        taken.close()
    message = str(failure.value)
    assert "ceph-mon exited" in message
    assert "--- ceph-mon" in message
    assert "Address already in use" in message


def test_a_monitor_port_taken_once_is_retried_with_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = bind_loopback()
    first = [port_of(taken)]

    def first_taken_then_free(count: int) -> tuple[int, ...]:
        return (first.pop(),) if first else free_loopback_ports(count)

    monkeypatch.setattr(ports, "free_loopback_ports", first_taken_then_free)
    try:
        with ceph_cluster(tmp_path / "logs") as cluster:
            assert cluster.endpoint is not None
            assert cluster.mon_port != port_of(taken)
            assert cluster.endpoint.client().list_buckets() == []
    finally:
        taken.close()
    assert "Address already in use" in (tmp_path / "logs" / "ceph-mon.log").read_text()
