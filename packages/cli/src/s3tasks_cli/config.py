"""Where the site is and who we are on it.

The site's URL: `--site`, else `S3TASKS_URL`, else `url = "..."` in the config file
(`<user config dir>/s3tasks/config.toml`, platformdirs). The visitor token the site handed
out (`POST /api/v1/visitors`) is kept per site in `<user data dir>/s3tasks/visitors.json`
(mode 0600): it is the key to everything uploaded with it.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP = "s3tasks"
URL_ENV = "S3TASKS_URL"


class ConfigError(Exception):
    """Something the user must set or fix, said in words."""


@dataclass(frozen=True)
class Places:
    config_file: Path
    visitors_file: Path
    #: the state of uploads under way, so that running the same command again resumes them
    uploads_dir: Path

    @classmethod
    def default(cls) -> Places:
        return cls(
            config_file=Path(user_config_dir(APP)) / "config.toml",
            visitors_file=Path(user_data_dir(APP)) / "visitors.json",
            uploads_dir=Path(user_cache_dir(APP)) / "uploads",
        )


def site_url(flag: str | None, places: Places) -> str:
    url = flag or os.environ.get(URL_ENV) or _configured_url(places.config_file)
    if not url:
        raise ConfigError(
            f'Which site? Pass --site URL, set {URL_ENV}, or write url = "https://..." '
            f"in {places.config_file}."
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"The site's URL must start with http:// or https://, not {url!r}.")
    return url.rstrip("/")


def _configured_url(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    url = config.get("url")
    return url if isinstance(url, str) else None


def saved_token(places: Places, site: str) -> str | None:
    token = _visitors(places).get(site)
    return token if isinstance(token, str) else None


def save_token(places: Places, site: str, token: str) -> None:
    visitors = _visitors(places)
    visitors[site] = token
    places.visitors_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = places.visitors_file.with_suffix(".tmp")
    # created private: the token is a key to the visitor's items
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(visitors, file)
    temporary.replace(places.visitors_file)


def _visitors(places: Places) -> dict[str, object]:
    try:
        loaded = json.loads(places.visitors_file.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ConfigError(f"{places.visitors_file} is damaged: {exc}") from exc
    return loaded if isinstance(loaded, dict) else {}
