"""The layers the architecture draws hold: import-linter's contracts in pyproject.toml.

import-linter reads the imports without running them (those under TYPE_CHECKING and inside
functions included); the test files are not part of the graph. `acyclic_siblings` at every
depth also forbids a circle between two modules of one package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import api
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = str(REPO_ROOT / "pyproject.toml")


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # bench is a package at the root


def contract_options(contract_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = api.read_configuration(PYPROJECT)
    (found,) = [c for c in config["contracts_options"] if c["id"] == contract_id]
    return config["session_options"], found


def project_graph() -> grimp.ImportGraph:
    session, _ = contract_options("services-ship-no-test-tooling")
    return grimp.build_graph(*session["root_packages"], cache_dir=None)


def test_every_contract_is_kept() -> None:
    """`lint-imports`, as `make lint` runs it, finds every contract kept."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-logo", "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


@pytest.mark.usefixtures("on_path")
def test_a_service_importing_testkit_breaks_its_contract() -> None:
    session, options = contract_options("services-ship-no-test-tooling")
    contract = ForbiddenContract(
        name=options["name"], session_options=session, contract_options=options
    )
    graph = project_graph()  # kept as it is: test_every_contract_is_kept
    graph.add_import(importer="s3tasks_web.app", imported="s3tasks_testkit.stack")
    assert not contract.check(graph, verbose=False).kept


@pytest.mark.usefixtures("on_path")
def test_a_new_circle_between_two_modules_breaks_its_contract() -> None:
    session, options = contract_options("no-circles")
    contract = AcyclicSiblingsContract(
        name=options["name"], session_options=session, contract_options=options
    )
    graph = project_graph()  # kept as it is: test_every_contract_is_kept
    graph.add_import(importer="s3tasks_servicekit.sizes", imported="s3tasks_servicekit.settings")
    graph.add_import(importer="s3tasks_servicekit.settings", imported="s3tasks_servicekit.sizes")
    assert not contract.check(graph, verbose=False).kept
