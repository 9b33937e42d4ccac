"""The fault proxy's one-shot COMMIT reset finds its statement however psycopg sends it.

psycopg prepares a statement on a connection once it ran it `prepare_threshold` times (5) and
then sends only the statement's name. `test_an_upload_whose_commit_outcome_is_unknown_...`
resets the COMMIT after storage-api's "mark stored" UPDATE; on a pooled connection that had
run that UPDATE five times already, the proxy saw no text, never fired, and the test failed
under load (stop 32's fresh run). Here on a real PostgreSQL: a statement run until prepared,
then once more inside the faulted transaction.
"""

from __future__ import annotations

import psycopg
import pytest

from s3tasks_testkit.faultproxy import PASS, FaultProxy, ResetAtCommit, loopback_address

MARKER = b"UPDATE proxy_probe SET status"
#: psycopg's default: the executions after which a statement is prepared
PREPARE_THRESHOLD = 5


def test_a_commit_after_a_prepared_statement_is_reset_and_lands(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE proxy_probe (id int PRIMARY KEY, status text)")
        admin.execute("INSERT INTO proxy_probe VALUES (1, 'new')")
    host, port = loopback_address(database_url, 5432)
    with FaultProxy(host, port) as proxy:
        proxied = database_url.replace(f"{host}:{port}", proxy.address)
        conn = psycopg.connect(proxied, prepare_threshold=PREPARE_THRESHOLD)
        try:
            for n in range(PREPARE_THRESHOLD + 2):  # prepared by now: only its name is sent
                conn.execute("UPDATE proxy_probe SET status = %s WHERE id = 1", (f"run-{n}",))
                conn.commit()
            proxy.set_mode(ResetAtCommit(MARKER))
            conn.execute("UPDATE proxy_probe SET status = %s WHERE id = 1", ("faulted",))
            with pytest.raises(psycopg.OperationalError):
                conn.commit()
            proxy.set_mode(PASS)
            assert proxy.fired == 1
        finally:
            conn.close()
    with psycopg.connect(database_url) as check:
        # the server had the COMMIT before the reset: it landed, unknown to the client
        row = check.execute("SELECT status FROM proxy_probe WHERE id = 1").fetchone()
        assert row == ("faulted",)
