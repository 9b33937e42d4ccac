"""`s3tasks upload`, `ls`, `get` and `rm` as a user runs them, and an upload killed at about
half (SIGKILL) resumed by running the same command again."""

from __future__ import annotations

import hashlib
import json
import re
import signal
from pathlib import Path

from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until

from .conftest import MIB, PART_BYTES, User


def _content(size: int, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * (MIB // 32)
    return (block * (size // len(block) + 1))[:size]


def _digest(path: Path) -> bytes:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").digest()


def test_upload_ls_get_of_a_password_link_and_rm(user: User, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    sent = tmp_path / "src" / "minutes.txt"
    sent.write_bytes(_content(PART_BYTES + 999, "minutes"))
    uploaded = user.run("upload", str(sent), "--limit", "2", "--password", "pw", "--no-qr")
    assert uploaded.returncode == 0, uploaded.stderr
    link = uploaded.stdout.strip()
    assert link.startswith(f"{user.site}/s/")
    token_file = user.home / "data" / "s3tasks" / "visitors.json"
    assert token_file.stat().st_mode & 0o777 == 0o600, "the token is kept private"

    listed = user.run("ls")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    item_id = line.split()[0]
    assert "minutes.txt" in line
    assert link in line

    # the password asked for (no terminal here: read from stdin), then from the flag
    asked = user.run("get", link, "-o", str(tmp_path / "asked.txt"), stdin="pw\n")
    assert asked.returncode == 0, asked.stderr
    assert _digest(tmp_path / "asked.txt") == _digest(sent)
    flagged = user.run("get", link, "--password", "pw", "-o", str(tmp_path))
    assert flagged.returncode == 0, flagged.stderr
    assert flagged.stdout.strip() == str(tmp_path / "minutes.txt"), "saved by its own name"
    assert _digest(tmp_path / "minutes.txt") == _digest(sent)
    used_up = user.run("get", link, "--password", "pw", "-o", str(tmp_path / "third"))
    assert used_up.returncode == 1
    assert "used up" in used_up.stderr
    wrong = user.run("get", link, "--password", "nope", "-o", str(tmp_path / "x"))
    assert wrong.returncode == 1

    other = tmp_path / "src" / "other.txt"
    other.write_bytes(b"kept\n")
    assert user.run("upload", str(other), "--no-qr").returncode == 0
    removed = user.run("rm", item_id)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "deleted 1 item"
    (left,) = user.run("ls").stdout.splitlines()
    assert "other.txt" in left, "the other file stays"
    assert user.run("rm", item_id).returncode == 1, "gone already"
    assert user.run("rm", "--all").stdout.strip() == "deleted 1 item"
    assert user.run("ls").stdout == ""


def test_an_upload_killed_at_about_half_resumes_when_run_again(user: User, tmp_path: Path) -> None:
    size = 64 * MIB
    sent = tmp_path / "big.bin"
    sent.write_bytes(_content(size, "big"))
    parts = -(-size // PART_BYTES)
    args = ("upload", str(sent), "--no-qr", "--jobs", "2", "--limit-rate", "16M")
    running = user.start(*args)

    def sent_parts() -> int:
        for state in user.uploads_dir.glob("*.json"):
            try:
                return len(json.loads(state.read_text()).get("sent", []))
            except ValueError:
                return 0  # caught between its write and its rename: never, but be safe
        return 0

    # 16 MiB/s: about 4 s for the whole file, so half of it is there for a while
    wait_until(
        lambda: sent_parts() >= parts // 2,
        timeout=patience(size / (16 * MIB)),
        message="half the parts sent",
    )
    running.send_signal(signal.SIGKILL)
    running.communicate()  # and its pipes closed
    assert running.returncode == -signal.SIGKILL
    done_before = sent_parts()
    assert done_before < parts, "killed before the end"

    resumed = user.run(*args)
    assert resumed.returncode == 0, resumed.stderr
    # the site holds at least what the killed run recorded (a part may have landed unrecorded)
    resuming = re.search(r"resuming, (\d+) of (\d+) parts already stored", resumed.stderr)
    assert resuming is not None, resumed.stderr
    assert done_before <= int(resuming[1]) < parts
    assert int(resuming[2]) == parts
    link = resumed.stdout.strip()
    assert not list(user.uploads_dir.glob("*.json")), "the state of a finished upload is gone"
    got = user.run("get", link, "-o", str(tmp_path / "back.bin"))
    assert got.returncode == 0, got.stderr
    assert _digest(tmp_path / "back.bin") == _digest(sent)
    assert user.run("rm", "--all").returncode == 0
