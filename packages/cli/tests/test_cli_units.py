"""The command's pure parts, and its wheel: built from the repository as `make test` (CI)
runs it, with the `s3tasks` console script and no dependency on the project's packages."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from s3tasks_cli.config import ConfigError, Places, save_token, saved_token, site_url
from s3tasks_cli.main import _disposition_name, _rate
from s3tasks_cli.uploads import kind_of

ROOT = Path(__file__).resolve().parents[3]


def _places(tmp_path: Path) -> Places:
    return Places(tmp_path / "config.toml", tmp_path / "data" / "visitors.json", tmp_path / "up")


def test_the_site_comes_from_the_flag_the_environment_or_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    places = _places(tmp_path)
    monkeypatch.delenv("S3TASKS_URL", raising=False)
    with pytest.raises(ConfigError, match="Which site"):
        site_url(None, places)
    places.config_file.write_text('url = "https://from.config/"\n')
    assert site_url(None, places) == "https://from.config"
    monkeypatch.setenv("S3TASKS_URL", "https://from.env")
    assert site_url(None, places) == "https://from.env"
    assert site_url("http://from.flag", places) == "http://from.flag"
    with pytest.raises(ConfigError, match="must start with http"):
        site_url("ftp://nope", places)
    places.config_file.write_text("url = ")
    monkeypatch.delenv("S3TASKS_URL")
    with pytest.raises(ConfigError, match="not valid TOML"):
        site_url(None, places)


def test_tokens_are_kept_per_site_in_a_private_file(tmp_path: Path) -> None:
    places = _places(tmp_path)
    assert saved_token(places, "https://a") is None
    save_token(places, "https://a", "token-a")
    save_token(places, "https://b", "token-b")
    assert saved_token(places, "https://a") == "token-a"
    assert saved_token(places, "https://b") == "token-b"
    assert places.visitors_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("text", "rate"), [("1000", 1000), ("500K", 500 * 1024), ("20M", 20 * 1024**2), ("1g", 1024**3)]
)
def test_rates_read_as_curl_writes_them(text: str, rate: int) -> None:
    assert _rate(text) == rate


@pytest.mark.parametrize("text", ["", "0", "M", "fast", "1.5M", "-1K"])
def test_a_rate_that_is_none_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _rate(text)


def test_the_saved_name_comes_from_the_content_disposition() -> None:
    assert _disposition_name("attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf") == "résumé.pdf"
    assert _disposition_name('attachment; filename="plain.txt"') == "plain.txt"
    assert _disposition_name("") is None


def test_images_are_told_by_their_first_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    (tmp_path / "a.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    (tmp_path / "a.txt").write_bytes(b"hello")
    assert [kind_of(tmp_path / n) for n in ("a.png", "a.webp", "a.txt")] == [
        "image",
        "image",
        "file",
    ]


def test_the_wheel_builds_with_its_console_script(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "venv" / "bin" / "uv")
    built = subprocess.run(
        [uv, "build", "--package", "s3tasks-cli", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("s3tasks_cli-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"s3tasks_cli/main.py", "s3tasks_cli/uploads.py", "s3tasks_cli/py.typed"} <= names
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "s3tasks = s3tasks_cli.main:main" in archive.read(info).decode()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires, "its dependencies are declared"
    assert not any("s3tasks" in line for line in requires), "installable on its own"
