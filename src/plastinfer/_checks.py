"""Type and range checks of settings, shared by every config dataclass and spec reader.

Configs come from TOML files, JSON headers and Python; each field is checked against its
annotation before anything is computed, so a wrong value is a one-line
:class:`~plastinfer.errors.ConfigError` naming the section and the field, never a traceback
later (``epochs = 2.5``, ``seed = "abc"``, ``learning_rate = nan``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import numbers
import types
import typing
from typing import Any

from .errors import ConfigError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def as_int(value: Any, name: str, section: str, *, minimum: int | None = None) -> int:
    """``value`` as an ``int``: an integer, or a float with no fractional part (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{section}: {name} must be an integer, got {_show(value)}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        if not math.isfinite(float(value)) or not float(value).is_integer():
            raise ConfigError(f"{section}: {name} must be an integer, got {_show(value)}")
        out = int(value)
    if minimum is not None and out < minimum:
        raise ConfigError(f"{section}: {name} must be ≥ {minimum}, got {out}")
    return out


def as_float(value: Any, name: str, section: str, *, minimum: float | None = None,
             positive: bool = False) -> float:
    """``value`` as a finite ``float`` (not a bool or a string); ``minimum``/``positive`` bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{section}: {name} must be a number, got {_show(value)}")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"{section}: {name} must be a finite number, got {out}")
    if positive and out <= 0:
        raise ConfigError(f"{section}: {name} must be positive, got {out}")
    if minimum is not None and out < minimum:
        raise ConfigError(f"{section}: {name} must be ≥ {minimum}, got {out}")
    return out


def as_str(value: Any, name: str, section: str, choices: typing.Iterable[str] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{section}: {name} must be a string, got {_show(value)}")
    if choices is not None and value not in tuple(choices):
        raise ConfigError(f"{section}: {name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _convert(value: Any, hint: Any, name: str, section: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        # bool before int before float: a TOML boolean is never read as a number
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: {bool: 0, int: 1, float: 2}.get(a, 3)):
            try:
                return _convert(value, arg, name, section)
            except ConfigError as err:
                errors.append(err)
        raise errors[-1] if errors else ConfigError(f"{section}: {name} has an invalid value {_show(value)}")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{section}: {name} must be one of {list(typing.get_args(hint))}, got {_show(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{section}: {name} must be true or false, got {_show(value)}")
        return value
    if hint is int:
        return as_int(value, name, section)
    if hint is float:
        return as_float(value, name, section)
    if hint is str:
        return as_str(value, name, section)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"{section}: {name} must be a list, got {_show(value)}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        if item is Any:
            return tuple(value)
        return tuple(_convert(v, item, f"{name}[{i}]", section) for i, v in enumerate(value))
    return value


def check_fields(obj: Any, section: str) -> None:
    """Check (and normalise, e.g. ``10.0 → 10``) every field of the frozen dataclass ``obj``
    against its annotation: integers, finite floats, booleans, strings, ``X | None``,
    ``Literal`` and tuples. Called from the configs' ``__post_init__``."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        hint = hints.get(f.name, Any)
        if hint is Any:
            continue
        value = getattr(obj, f.name)
        new = _convert(value, hint, f.name, section)
        if new is not value:
            object.__setattr__(obj, f.name, new)


def available_memory() -> int:
    """Bytes of memory available now (physical pages free or reclaimable), or a large number
    where the system does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(nbytes: int, what: str) -> None:
    """Refuse work whose arrays would need more than the memory available."""
    free = available_memory()
    if nbytes > free:
        raise ConfigError(f"{what} needs about {nbytes / 2**30:,.1f} GiB; {free / 2**30:,.1f} GiB is available")
