"""Tests side by side (pytest-xdist, `-n N`) without starting a shared stack once per worker.

Tests that share a stack (a fixture of module, package or a conftest's session scope) run on
one worker, so the stack starts once (`group_of`); tests marked `heavy` (gigabytes, image
builds, load runs) run one after the other in one of two lanes, each on one worker, and start
first: they are the longest chains. The image builds and container runs (`containers`) are
one lane, the load runs and large transfers the other: in one lane, a cold run's image builds
(11 minutes for the compose run's set-up alone) made the lane the run's long pole, and the two
kinds contend for different things (the builds for the disk and the package mirrors, the
loads for loopback and the services' cores), so that at most two heavy tests share the
machine.

xdist's own `--dist loadgroup` reads `xdist_group` marks by rewriting node ids, which pytest 9
no longer allows (ids are computed, not stored), so the marks have no effect. Here each worker
writes the groups it collected into a file the controller named (`pytest_configure_node`), and
the controller's scheduler (`--dist loadgroup` by default in pyproject.toml) reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest
from xdist.scheduler import LoadScopeScheduling

#: the lanes of the tests marked `heavy`: those that build or run images, and the others
CONTAINERS_GROUP: Final = "heavy-containers"
HEAVY_GROUP: Final = "heavy"
HEAVY_GROUPS: Final = frozenset({CONTAINERS_GROUP, HEAVY_GROUP})
_GROUPS_FILE: Final = "s3tasks_groups_file"
_groups_dir = pytest.StashKey[Path]()


def group_of(item: pytest.Item) -> str | None:
    """The lane of a `heavy` test; else where the widest fixture a test shares lives: the
    conftest's directory of a session or package fixture, the test's module for a module
    fixture; None when it shares nothing but the plugin's session (which every worker has)."""
    if item.get_closest_marker("heavy") is not None:
        return CONTAINERS_GROUP if item.get_closest_marker("containers") else HEAVY_GROUP
    if not isinstance(item, pytest.Function):
        return None
    module = item.nodeid.split("::", 1)[0]
    shared: dict[str, set[str]] = {"session": set(), "package": set(), "module": set()}
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        used = definitions[-1]
        if used.baseid and used.scope in shared:
            shared[used.scope].add(module if used.scope == "module" else used.baseid)
    for scope in ("session", "package", "module"):
        if shared[scope]:
            return min(shared[scope], key=len)  # the outermost: it holds the others
    return None


def _groups_file(config: pytest.Config) -> Path:
    """(controller) Where the workers write the groups."""
    if _groups_dir not in config.stash:
        config.stash[_groups_dir] = Path(tempfile.mkdtemp(prefix="s3tasks-xdist-"))
    return config.stash[_groups_dir] / "groups.json"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput[_GROUPS_FILE] = str(_groups_file(node.config))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _groups_dir in config.stash:
        shutil.rmtree(config.stash[_groups_dir], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return _GroupScheduling(config, log, _groups_file(config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """(worker) The groups, for the controller; the queue's order: heavy tests first, then the
    groups with the most tests, then single tests, so that no long group starts last."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None or _GROUPS_FILE not in workerinput:
        return
    groups = {item.nodeid: group_of(item) for item in items}
    sizes = Counter(groups.values())

    def rank(item: pytest.Item) -> tuple[bool, int]:
        group = groups[item.nodeid]
        return group not in HEAVY_GROUPS, -sizes[group] if group is not None else 0

    items.sort(key=rank)
    # every worker collects the same tests: whichever writes last writes the same file
    path = Path(workerinput[_GROUPS_FILE])
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({k: v for k, v in groups.items() if v is not None}))
    partial.replace(path)


class _GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """xdist's scope scheduling (whole scopes to one worker, in the collection's order with
    `--no-loadscope-reorder`), with the workers' groups as scopes; other tests one by one."""

    def __init__(self, config: pytest.Config, log: Any, groups_file: Path) -> None:
        super().__init__(config, log)
        self._groups_file = groups_file
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:  # first asked once every worker has collected
            self._groups = json.loads(self._groups_file.read_text())
        return self._groups.get(nodeid, nodeid)
