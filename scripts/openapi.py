"""`make openapi`: write web's `/api/v1` OpenAPI document to docs/api/openapi.json, as the
app serves it at /api/v1/openapi.json (Litestar makes it from the routes and their models).

`python scripts/openapi.py --check` exits 1 when the committed file is stale
(services/web/tests/test_openapi.py runs it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from s3tasks_web.app import create_app
from s3tasks_web.settings import WebSettings

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"


def document() -> str:
    schema = create_app(WebSettings(_env_file=None)).openapi_schema.to_schema()  # type: ignore[call-arg]
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    wanted = document()
    if "--check" in argv:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != wanted:
            print(f"{DOCUMENT} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(wanted)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
