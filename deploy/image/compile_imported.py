"""Compile to bytecode the modules a service imports, and only those (run in the image build).

The root filesystem is read-only at run time, so a module without a .pyc is compiled again in
memory at every start. Compiling the whole virtualenv costs tens of megabytes of bytecode for
code no service loads (SQLAlchemy's other dialects, Pillow's plugins, ...); this compiles what
importing every module of the service loads, plus what uvicorn and Celery load to start.
Usage: python compile_imported.py web  (storage-api, web or worker)
"""

from __future__ import annotations

import importlib
import pkgutil
import py_compile
import sys
from pathlib import Path

# Imported when the server starts rather than when the service's modules are imported.
UVICORN = (
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
)
CELERY = (
    "celery.apps.worker",
    "celery.apps.beat",
    "celery.bin.celery",
    "celery.worker.consumer",
    "celery.concurrency.prefork",
    "kombu.transport.redis",
)
START_UP_MODULES = {"storage-api": UVICORN, "web": UVICORN, "worker": CELERY}


def import_service(service: str) -> str:
    package = "s3tasks_" + service.replace("-", "_")
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if ".migrations" in info.name:
            continue  # Alembic's scripts: Alembic runs them, they do not import on their own
        importlib.import_module(info.name)
    for name in START_UP_MODULES[service]:
        importlib.import_module(name)
    return package


def main(service: str) -> None:
    package = import_service(service)
    venv = Path(sys.prefix).resolve()
    sources = sorted(
        {
            path
            for module in list(sys.modules.values())
            if (name := getattr(module, "__file__", None)) and name.endswith(".py")
            if (path := Path(name).resolve()).is_relative_to(venv)
        }
    )
    for source in sources:
        # the image never changes: no need to check the source's hash or mtime at import
        py_compile.compile(
            str(source),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    print(f"compiled {len(sources)} modules that {package} imports")


if __name__ == "__main__":
    main(sys.argv[1])
