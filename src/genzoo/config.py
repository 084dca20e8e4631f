"""Typed configuration read from factory signatures, YAML files and ``--set`` overrides.

A component's configuration is the keyword parameters of its registered factory (or the
fields of a frozen dataclass, which is the same thing to :func:`inspect.signature`). This
module validates and coerces user values against those annotations so every mistake is one
sentence naming the key, the value and what is allowed.
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Union

import yaml

from .errors import GenzooError

_MISSING = inspect.Parameter.empty
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def fields_of(fn: Callable[..., Any], skip: int = 0) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of ``fn``'s keyword parameters, skipping ``skip`` leading ones."""
    target = fn.__init__ if inspect.isclass(fn) else fn  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    params = list(inspect.signature(fn).parameters.values())[skip:]
    out: dict[str, tuple[Any, Any]] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = (hints.get(p.name, p.annotation), p.default)
    return out


def _type_name(ann: Any) -> str:
    if ann is _MISSING or ann is Any:
        return "any value"
    origin = typing.get_origin(ann)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(ann))
    if origin is tuple:
        args = typing.get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values"
    if ann is type(None):
        return "null"
    return getattr(ann, "__name__", str(ann))


class _Bad(Exception):
    pass


def _coerce(value: Any, ann: Any) -> Any:
    if ann is _MISSING or ann is Any:
        return value
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Literal:
        if value in args:
            return value
        raise _Bad
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except _Bad:
                continue
        raise _Bad
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if origin is tuple and args:
            if len(value) != len(args):
                raise _Bad
            return tuple(_coerce(v, a) for v, a in zip(value, args))
        return [_coerce(v, args[0]) if args else v for v in value]
    if origin is dict or ann is dict:
        if isinstance(value, dict):
            return dict(value)
        raise _Bad
    if ann is bool:
        if isinstance(value, bool):
            return value
        raise _Bad
    if ann is int:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise _Bad from None
            if f.is_integer():
                return int(f)
        raise _Bad
    if ann is float:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _Bad from None
        raise _Bad
    if ann is str:
        if isinstance(value, str):
            return value
        raise _Bad
    return value


def coerce(value: Any, ann: Any, where: str) -> Any:
    """``value`` converted to annotation ``ann``; a mismatch names ``where`` and the allowed type."""
    try:
        return _coerce(value, ann)
    except _Bad:
        raise GenzooError(f"{where} must be {_type_name(ann)}, got {value!r}") from None


def resolve(fn: Callable[..., Any], given: dict[str, Any], where: str, skip: int = 0) -> dict[str, Any]:
    """All of ``fn``'s options: ``given`` validated and coerced, defaults filled in."""
    fields = fields_of(fn, skip)
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise GenzooError(
            f"unknown option {where}.{unknown[0]}; valid options of {where} are: {', '.join(fields) or '(none)'}"
        )
    out: dict[str, Any] = {}
    for name, (ann, default) in fields.items():
        if name in given:
            out[name] = coerce(given[name], ann, f"{where}.{name}")
        elif default is _MISSING:
            raise GenzooError(f"{where}.{name} is required; set it with --set {where}.{name}=VALUE")
        else:
            out[name] = default
    return out


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["model.latent_dim=32", "train.lr=1e-4"]`` -> ``{"model": {"latent_dim": 32}, ...}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise GenzooError(f"override '{item}' needs the form section.key=value, e.g. model.latent_dim=32")
        path, raw = item.split("=", 1)
        keys = [k for k in path.strip().split(".") if k]
        if len(keys) < 2:
            raise GenzooError(f"override '{item}' must name a section and a key, e.g. train.lr=1e-4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 as a string
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise GenzooError(f"override '{item}' conflicts with another override of {k}")
        node[keys[-1]] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``extra`` wins."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_plain(obj: Any) -> Any:
    """Tuples -> lists (recursively), so YAML stays plain and safe."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


_UMASK = os.umask(0)
os.umask(_UMASK)  # read the process umask once (os.umask can only be read by setting it)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it an ordinary file's mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_bytes(path, yaml.safe_dump(to_plain(obj), sort_keys=False).encode())


def load_yaml(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"config file {path} does not exist; check the path")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise GenzooError(f"config file {path} is not valid YAML ({str(e).splitlines()[0]}); fix its syntax") from None
