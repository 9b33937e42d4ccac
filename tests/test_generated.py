"""The files `make generated` writes from the settings classes are committed up to date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", REPO_ROOT / "scripts/generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate", module)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_up_to_date() -> None:
    generate = _generator()
    stale = [
        str(path.relative_to(REPO_ROOT))
        for path, text in generate.rendered().items()
        if path.read_text() != text
    ]
    assert stale == [], f"stale: {', '.join(stale)}; run `{generate.MAKE_TARGET}` and commit"
