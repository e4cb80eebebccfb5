"""Names a package imports on first use (PEP 562), so its light modules load without its heavy ones."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_names(package: str, where: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable, Callable]:
    """A package's ``__getattr__`` and ``__dir__``: each name in ``where`` from the module given, when first asked for.

    ``namespace`` is the package's ``globals()``, which ``__dir__`` lists beside the lazy names.
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
