"""The `s3tasks` command. `s3tasks --help` and `s3tasks <command> --help` are its manual."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import segno
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from s3tasks_cli.api import ApiError, Site, checked
from s3tasks_cli.config import ConfigError, Places, site_url
from s3tasks_cli.uploads import RateLimit, Upload, send

DESCRIPTION = """\
s3tasks from a terminal: upload files (in parts, several at a time, straight to S3 when the
site allows it), list them, delete them, download a share link. Everything uploaded is
deleted automatically after a while.

The site: --site URL, or the S3TASKS_URL environment variable, or url = "https://..." in
the config file (s3tasks --help shows where it is looked for). On first use the site hands
out a visitor token, kept in your user data directory: it is the key to your uploads.

An upload cut off (network, Ctrl-C, a killed process) resumes from where it stopped when
the same command is run again: only the parts the site does not hold are sent.
"""
#: `--password` given with no value: ask for it
_ASK = "\0ask"
_console = Console(stderr=True)


def _parser(places: Places) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3tasks",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"config file: {places.config_file}\nvisitor tokens: {places.visitors_file}\n"
        f"uploads under way: {places.uploads_dir}",
    )
    parser.add_argument("--site", help="the site's URL (else S3TASKS_URL, else the config file)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = commands.add_parser(
        "upload",
        help="upload files; print each one's share link and its QR code",
        description="Upload files and print a share link (and its QR code) for each. Run the "
        "same command again to resume an upload that was cut off.",
    )
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upload.add_argument("--limit", type=int, metavar="N", help="downloads the link allows (1-1000)")
    upload.add_argument(
        "--password",
        nargs="?",
        const=_ASK,
        metavar="PASSWORD",
        help="the link asks for a password (asked for when none is given)",
    )
    upload.add_argument(
        "--expires",
        type=int,
        metavar="MIN",
        help="the link ends after MIN minutes (at most the item's own life)",
    )
    upload.add_argument("--jobs", type=int, default=4, metavar="N", help="parts in flight (4)")
    upload.add_argument(
        "--limit-rate",
        type=_rate,
        metavar="RATE",
        help="send at most RATE bytes a second on average (K, M, G suffixes: 20M)",
    )
    upload.add_argument("--no-qr", action="store_true", help="print the link only")

    commands.add_parser(
        "ls",
        help="list your items and their links",
        description="List your items (newest first) with their size, deletion time and links.",
    )

    rm = commands.add_parser(
        "rm",
        help="delete items",
        description="Delete items by id (as `s3tasks ls` shows), or all of them.",
    )
    rm.add_argument("ids", nargs="*", metavar="ID")
    rm.add_argument("--all", action="store_true", help="delete all your items")

    get = commands.add_parser(
        "get",
        help="download a share link",
        description="Download what a share link shares. A link with a password asks for it "
        "(or takes --password).",
    )
    get.add_argument("link", metavar="LINK")
    get.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="where to save it (a directory or a file name; default: the file's own name here)",
    )
    get.add_argument("--password", metavar="PASSWORD", help="the link's password")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    places = Places.default()
    args = _parser(places).parse_args(argv)
    try:
        if args.command == "get":
            return _get(args.link, args.output, args.password)
        site = Site.open(site_url(args.site, places), places)
        try:
            if args.command == "upload":
                return _upload(site, places, args)
            if args.command == "ls":
                return _ls(site)
            return _rm(site, args.ids, all_items=args.all)
        finally:
            site.close()
    except (ApiError, ConfigError, OSError) as exc:
        _console.print(f"s3tasks: {exc}", style="red", markup=False, highlight=False)
        return 1
    except KeyboardInterrupt:
        _console.print("s3tasks: stopped; run the same command again to resume", markup=False)
        return 130


def _upload(site: Site, places: Places, args: argparse.Namespace) -> int:
    password = (
        getpass.getpass("Password for the links: ") if args.password == _ASK else args.password
    )
    for path in args.files:
        if not path.is_file():
            raise ConfigError(f"{path} is not a file")
    for path in args.files:
        item = _send_one(site, places, path, args.jobs, RateLimit(args.limit_rate))
        share: dict[str, object] = {}
        if args.limit is not None:
            share["max_downloads"] = args.limit
        if password:
            share["password"] = password
        if args.expires is not None:
            share["expires_in_minutes"] = args.expires
        link = site.call("POST", f"/items/{item['id']}/shares", json=share)
        print(link["url"], flush=True)
        if not args.no_qr and sys.stdout.isatty():
            segno.make(link["url"], error="m").terminal(compact=True)
    return 0


def _send_one(site: Site, places: Places, path: Path, jobs: int, rate: RateLimit) -> dict[str, Any]:
    """One file in parts, with a progress bar; resumed if it was cut off before."""
    upload = Upload.of(site, path, places)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_console,
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=upload.size)
        return send(
            site,
            upload,
            jobs=jobs,
            progress=lambda sent: bar.advance(task, sent),
            rate=rate,
            resumed=lambda held, count: bar.console.print(
                f"{path.name}: resuming, {held} of {count} parts already stored", markup=False
            ),
        )


def _ls(site: Site) -> int:
    for item in site.call("GET", "/items")["items"]:
        links = " ".join(share["url"] for share in item["shares"] if share["state"] == "active")
        print(
            f"{item['id']}  {item['kind']:5}  {_size(item['size_bytes']):>9}  "
            f"{item['expires_at'][:19]}  {item['filename']}" + (f"  {links}" if links else "")
        )
    return 0


def _rm(site: Site, ids: list[str], *, all_items: bool) -> int:
    if all_items == bool(ids):
        raise ConfigError("name the items to delete (their ids, as `s3tasks ls` shows) or --all")
    if all_items:
        deleted = site.call("DELETE", "/items")["deleted"]
        print(f"deleted {deleted} item{'s' if deleted != 1 else ''}")
        return 0
    for item_id in ids:
        site.call("DELETE", f"/items/{item_id}")
    print(f"deleted {len(ids)} item{'s' if len(ids) != 1 else ''}")
    return 0


def _get(link: str, output: Path | None, password: str | None) -> int:
    """Press the link's Download button (a POST with the password), follow it to the bytes."""
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True) as http:
        for attempt in range(2):
            with http.stream("POST", link, data={"password": password or ""}) as response:
                if response.status_code == 403 and password is None and attempt == 0:
                    response.read()
                    password = getpass.getpass("This link asks for a password: ")
                    continue
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(_page_words(response), response.status_code)
                target = _target(output, response, link)
                with target.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                print(target)
                return 0
    raise ApiError("wrong password")


def _page_words(response: httpx.Response) -> str:
    """The words of the site's error page (its flash), else the status."""
    found = re.search(r'class="flash[^"]*"[^>]*>([^<]+)<', response.text)
    return found.group(1).strip() if found else checked_phrase(response)


def checked_phrase(response: httpx.Response) -> str:
    try:
        checked(response)
    except ApiError as exc:
        return str(exc)
    return response.reason_phrase


def _target(output: Path | None, response: httpx.Response, link: str) -> Path:
    name = (
        _disposition_name(response.headers.get("content-disposition", ""))
        or Path(unquote(urlsplit(link).path)).name
    )
    name = Path(name).name or "download"
    if output is None:
        return Path(name)
    return output / name if output.is_dir() else output


def _disposition_name(header: str) -> str | None:
    star = re.search(r"filename\*=UTF-8''([^;]+)", header, re.IGNORECASE)
    if star:
        return unquote(star.group(1))
    plain = re.search(r'filename="([^"]*)"', header)
    return plain.group(1) if plain else None


def _rate(text: str) -> int:
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    number, unit = text[:-1], text[-1:].upper()
    if unit not in units or unit == "":
        number, unit = text, ""
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (e.g. 500K or 20M)")
    return int(number) * units[unit]


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
