"""`make generated` writes the chart's values schema, the chart README's table of the values
the services read and `.env.example` from the settings classes: committed up to date, and a
setting's bounds reach the chart without being written twice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from s3tasks_storage_api.settings import StorageApiSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", REPO_ROOT / "scripts/generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate", module)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_up_to_date(generate: ModuleType) -> None:
    stale = [
        str(path.relative_to(REPO_ROOT))
        for path, text in generate.rendered().items()
        if path.read_text() != text
    ]
    assert stale == [], f"stale: {', '.join(stale)}; run `{generate.MAKE_TARGET}` and commit"


def test_the_check_names_the_make_target(
    generate: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed = tmp_path / "values.schema.json"
    committed.write_text("{}\n")
    monkeypatch.setattr(generate, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(generate, "rendered", lambda: {committed: '{"type": "object"}\n'})
    assert generate.main(["--check"]) == 1
    assert "run `make generated`" in capsys.readouterr().err
    assert committed.read_text() == "{}\n"  # --check writes nothing


def test_a_values_bounds_are_its_settings(generate: ModuleType) -> None:
    schema = json.loads(generate.render_schema())
    sharing = schema["properties"]["sharing"]["properties"]
    assert sharing["grantSeconds"] == {"$ref": "#/definitions/sharing.grantSeconds"}
    setting = StorageApiSettings.model_json_schema()["properties"]["share_grant_seconds"]
    generated = schema["definitions"]["sharing.grantSeconds"]
    assert (generated["minimum"], generated["maximum"]) == (setting["minimum"], setting["maximum"])
    assert "STORAGE_API_SHARE_GRANT_SECONDS" in generated["description"]


def test_a_new_setting_in_the_configmap_is_one_line_there(
    generate: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a new value needs besides its setting: its line in _data.tpl (and its default in
    values.yaml); the schema follows."""
    mapping = tmp_path / "_data.tpl"
    mapping.write_text(
        generate.MAPPING.read_text()
        + "STORAGE_API_IMAGES_KEPT: {{ .Values.config.imagesKept | quote }}\n"
    )
    monkeypatch.setattr(generate, "MAPPING", mapping)
    schema = json.loads(generate.render_schema())
    assert schema["properties"]["config"]["properties"]["imagesKept"] == {
        "$ref": "#/definitions/config.imagesKept"
    }
    assert schema["definitions"]["config.imagesKept"]["minimum"] == 1
    assert schema["definitions"]["config.imagesKept"]["type"] == "integer"


def test_hand_written_values_keep_their_schema(generate: ModuleType) -> None:
    """The chart's own form of a setting (a port that may not be 0) is the base's."""
    schema = json.loads(generate.render_schema())
    metrics = schema["properties"]["web"]["properties"]["containerPorts"]["properties"]["metrics"]
    assert metrics["minimum"] == 1
