"""Driver registry: lab.toml names a driver (``driver = "yokogawa-wt"``), this finds it.

Built-in drivers register with ``@register_driver``; third-party packages add drivers
through the ``testbench.drivers`` entry-point group (``name = "package.module:Class"``).
A driver class is constructed as ``cls(spec: InstrumentSpec, limits: SafetyLimits)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from testbench.errors import BenchError

_DRIVERS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_driver(name: str) -> Callable[[T], T]:
    """Class decorator registering a driver under ``name``."""

    def decorate(cls: T) -> T:
        _DRIVERS[name] = cls
        return cls

    return decorate


def _load_all() -> None:
    import instruments.drivers as builtin

    for module in pkgutil.iter_modules(builtin.__path__, prefix="instruments.drivers."):
        importlib.import_module(module.name)
    for ep in entry_points(group="testbench.drivers"):
        if ep.name not in _DRIVERS:
            _DRIVERS[ep.name] = ep.load()


def driver_names() -> list[str]:
    """Every known driver name."""
    _load_all()
    return sorted(_DRIVERS)


def get_driver(name: str) -> type:
    """The driver class registered under ``name`` (BenchError listing known names if none)."""
    _load_all()
    try:
        return _DRIVERS[name]
    except KeyError:
        known = ", ".join(sorted(_DRIVERS))
        raise BenchError(
            f"no instrument driver named {name!r}; known drivers: {known}. "
            "Fix the driver name in lab.toml or install the package that provides it"
        ) from None
