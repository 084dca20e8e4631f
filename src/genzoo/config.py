"""Typed configuration read from factory signatures, YAML files and ``--set`` overrides.

A component's configuration is the keyword parameters of its registered factory (or the
fields of a frozen dataclass, which is the same thing to :func:`inspect.signature`). This
module validates and coerces user values against those annotations so every mistake is one
sentence naming the key, the value and what is allowed.

Nested components. A factory parameter whose default is a :class:`Component` is itself an
entry of a registry (a network of ``NETS``, a prior of ``PRIORS``, a likelihood of
``LIKELIHOODS``, even a model of ``MODELS``), chosen by ``type`` with that entry's own
options. All of these say the same thing::

    model: {type: vae, encoder: {type: conv, width: 64}, prior: vamp}
    --set model.encoder.type=conv --set model.encoder.width=64 --set model.prior=vamp
    genzoo.build("vae", info, encoder={"type": "conv", "width": 64}, prior="vamp")

:func:`resolve` validates the nested options against the registered entry's signature (less
the arguments its owner supplies, the registry's ``context``), fills the defaults and hands
the factory a :class:`Spec`, which it builds with the sizes it knows:
``encoder.build(in_shape=(784,), out_shape=(32,))``. The resolved specs are complete (a
concrete ``type`` and every option), so the saved ``config.yaml`` rebuilds the same model.

Allowed ranges are declared where the option is, in its annotation, and checked by the same
:func:`coerce` that checks its type, before anything is created or allocated::

    def eight_gaussians(n_train: Annotated[int, Range(1, 10**7)] = 50_000, ...)
    lr: Annotated[float, Range(0, 10, lo_open=True)] | None = None

Floats are always finite (``nan``/``inf`` are refused); the aliases :data:`PosInt`,
:data:`NonNegInt`, :data:`PosFloat`, :data:`NonNegFloat`, :data:`Prob`, :data:`Seed`, :data:`Size`
(a layer or code size) and :data:`Weight` (a loss weight) name the common ranges.

Example:
    >>> coerce("3", Annotated[int, Range(1)], "model.latent_dim")
    3
    >>> coerce(0, Annotated[int, Range(1)], "model.latent_dim")
    Traceback (most recent call last):
    ...
    genzoo.errors.GenzooError: model.latent_dim must be int >= 1, got 0
"""

from __future__ import annotations

import inspect
import math
import os
import re
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, Union

import yaml

from .errors import GenzooError
from .registry import MODELS, Registry

_MISSING = inspect.Parameter.empty
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass(frozen=True)
class Range:
    """Allowed interval of a numeric option, carried in its annotation: ``Annotated[int, Range(1)]``.

    Args:
        lo: smallest allowed value (``None``: unbounded below).
        hi: largest allowed value (``None``: unbounded above).
        lo_open: exclude ``lo`` itself (``Range(0, lo_open=True)`` is "> 0").
        hi_open: exclude ``hi`` itself.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, v: float) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        if self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)):
            return False
        return True

    def __str__(self) -> str:
        lo, hi = _num_text(self.lo), _num_text(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {hi}"
        return "any number"


def _num_text(x: float | None) -> str:
    if x is None:
        return ""
    if isinstance(x, int) and abs(x) >= 10**6:
        p = math.log10(abs(x))
        if p.is_integer():
            return f"{'-' if x < 0 else ''}10^{int(p)}"
        if (abs(x) & (abs(x) - 1)) == 0:
            return f"{'-' if x < 0 else ''}2^{abs(x).bit_length() - 1}"
        if (abs(x) & (abs(x) + 1)) == 0:
            return f"{'-' if x < 0 else ''}2^{abs(x).bit_length()}-1"
    return f"{x:g}" if isinstance(x, float) else str(x)


#: Common ranges, for annotations: ``latent_dim: PosInt = 16``.
PosInt = Annotated[int, Range(1)]
NonNegInt = Annotated[int, Range(0)]
PosFloat = Annotated[float, Range(0, lo_open=True)]
NonNegFloat = Annotated[float, Range(0)]
Prob = Annotated[float, Range(0, 1)]
Seed = Annotated[int, Range(0, 2**63 - 1)]
#: A layer, code or latent size (the memory check of ``genzoo.build`` bounds their product).
Size = Annotated[int, Range(1, 2**20)]
Sizes = tuple[Size, ...]
#: The weight of a loss term.
Weight = Annotated[float, Range(0, 1e6)]


def fields_of(fn: Callable[..., Any], skip: int = 0) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of ``fn``'s keyword parameters, skipping ``skip`` leading ones."""
    target = fn.__init__ if inspect.isclass(fn) else fn  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target, include_extras=True)
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
    if origin is Annotated:
        base, *marks = typing.get_args(ann)
        ranges = [str(m) for m in marks if isinstance(m, Range)]
        return " ".join([_type_name(base), *ranges])
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin in (Union, types.UnionType):
        # null is the "not set" default of an optional option: name only what the user may set
        return " or ".join(_type_name(a) for a in typing.get_args(ann) if a is not type(None)) or "null"
    if origin is tuple:
        args = typing.get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            if typing.get_origin(item) is Annotated:  # "a list of int, each >= 1"
                base, *marks = typing.get_args(item)
                ranges = [str(m) for m in marks if isinstance(m, Range)]
                return f"a list of {_type_name(base)}" + (f", each {' '.join(ranges)}" if ranges else "")
            return f"a list of {_type_name(item)}"
        if args and all(a == args[0] for a in args):
            return f"a list of {len(args)} values, each {_type_name(args[0])}"
        return f"a list of {len(args)} values ({', '.join(_type_name(a) for a in args)})"
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
    if origin is Annotated:
        out = _coerce(value, args[0])
        for mark in args[1:]:
            if isinstance(mark, Range) and not mark.contains(out):
                raise _Bad
        return out
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
                return int(value.strip().replace("_", ""), 10)
            except ValueError:
                pass
            try:
                f = float(value)
            except ValueError:
                raise _Bad from None
            if math.isfinite(f) and f.is_integer():
                return int(f)
        raise _Bad
    if ann is float:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, (int, float)):
            try:
                out = float(value)
            except OverflowError:  # an int beyond float range
                raise _Bad from None
        elif isinstance(value, str):
            try:
                out = float(value)
            except ValueError:
                raise _Bad from None
        else:
            raise _Bad
        if not math.isfinite(out):  # nan / inf are never a setting
            raise _Bad
        return out
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


# wave-1 option names that became nested components: an old config naming one gets a pointer
_NESTED_NOW = {"net", "hidden", "width", "act", "ae_hidden", "ae_noise", "ae_noise_level", "n_components", "n_pseudo",
               "flow_layers", "arch", "n_layers", "n_scales", "n_blocks", "prior_hidden"}


def resolve(fn: Callable[..., Any], given: dict[str, Any], where: str, skip: int = 0, *, info: Any = None,
            context: tuple[str, ...] = ()) -> dict[str, Any]:
    """All of ``fn``'s options: ``given`` validated and coerced, defaults filled in.

    Parameters whose default is a :class:`Component` come back as a :class:`Spec` (see the
    module docstring). ``info`` (the data's :class:`~genzoo.data.DataInfo`) decides ``auto``
    component types; without it (checking a command line before any data is loaded) the
    options of an ``auto`` component are only checked to exist in some entry of its registry,
    and the component comes back as ``None``.

    Args:
        fn: a factory (function or class); its keyword parameters are the options.
        given: the user's options, ``{name: value}``.
        where: dotted path of ``given`` in the run config, for messages (``model``, ``model.encoder``).
        skip: leading parameters the caller supplies (a model factory's ``info``).
        info: the data's metadata, for ``auto`` choices.
        context: further parameter names the caller supplies.
    """
    if not isinstance(given, Mapping):
        raise GenzooError(f"{where} must be a mapping of options, got {given!r}")
    fields = {k: v for k, v in fields_of(fn, skip).items() if k not in context}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        hint = ""
        if unknown[0] in _NESTED_NOW:  # a wave-1 config: point at the nested option that replaced it
            nested = _nested_path(fn, unknown[0], tuple(k for k in fields_of(fn) if k not in fields))
            if nested:
                hint = f" (networks, priors and likelihoods are nested options now: write e.g. {where}.{nested}=...)"
        raise GenzooError(
            f"unknown option {where}.{unknown[0]}; valid options of {where} are: {', '.join(fields) or '(none)'}{hint}"
        )
    out: dict[str, Any] = {}
    followers: list[str] = []
    for name, (ann, default) in fields.items():
        if isinstance(default, Component):
            out[name] = None
            if default.follow is not None and _untyped(given.get(name)):
                followers.append(name)  # resolved once the component it follows is
            else:
                out[name] = default.resolve(given.get(name), f"{where}.{name}", info)
        elif name in given:
            out[name] = coerce(given[name], ann, f"{where}.{name}")
        elif default is _MISSING:
            raise GenzooError(f"{where}.{name} is required; set it with --set {where}.{name}=VALUE")
        else:
            out[name] = default
    for name in followers:
        comp: Component = fields[name][1]
        out[name] = comp.resolve(given.get(name), f"{where}.{name}", info, base=out.get(comp.follow))  # type: ignore[arg-type]
    return out


def _nested_path(fn: Callable[..., Any], old: str, context: tuple[str, ...]) -> str | None:
    """The nested option of ``fn`` that replaced wave-1 option ``old`` (``hidden`` -> ``encoder.hidden``)."""
    stem, key = "", old
    for prefix, owner in (("ae_", "autoencoder"), ("prior_", "prior")):
        if old.startswith(prefix):
            stem, key = owner, old[len(prefix):]
    rows = options_of(fn, context)
    if old in ("net", "arch"):  # component rows read "network: auto | conv | mlp"
        paths = [f"{o.path}.type" for o in rows if "." not in o.path and ":" in o.type]
    else:
        paths = [o.path for o in rows if "." in o.path and o.path.rsplit(".", 1)[-1] == key]
    paths.sort(key=lambda p: (stem not in p, p.count(".")))  # named after the old prefix, then shallowest
    return paths[0] if paths else None


# -- nested components ----------------------------------------------------------------------------


def _untyped(value: Any) -> bool:
    """True when a component value names no concrete type (absent, ``auto`` or options only)."""
    if value is None or value == "auto":
        return True
    return isinstance(value, Mapping) and value.get("type", "auto") == "auto"


@dataclass(frozen=True, eq=False)
class Spec:
    """A resolved component: entry ``type`` of ``registry`` with its complete ``options``.

    Nested components among the options are :class:`Spec` objects themselves. A factory
    builds it with what it knows, the registry's ``context``:

    Example:
        >>> import torch, genzoo
        >>> from genzoo.registry import NETS
        >>> spec = Spec("mlp", {"hidden": (8,), "act": "relu", "batch_norm": False, "dropout": 0.0}, NETS)
        >>> spec.build(in_shape=(4,), out_shape=(2,))(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """

    type: str
    options: dict[str, Any]
    registry: Registry = field(repr=False)

    def build(self, **context: Any) -> Any:
        """Call the registered factory with ``context`` (the sizes its owner knows) and the options."""
        bad = sorted(set(context) - set(self.registry.context))
        if bad:
            raise TypeError(f"{bad[0]} is not context of the {self.registry.kind} registry ({', '.join(self.registry.context)})")
        factory = self.registry.get(self.type)
        params = inspect.signature(factory).parameters
        return factory(**{k: v for k, v in context.items() if k in params}, **self.options)

    @property
    def meta(self) -> dict[str, Any]:
        """The registry metadata of the entry (``flat=True`` for networks on flattened inputs, ...)."""
        return self.registry.meta(self.type)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., **options}``, nested specs as dicts too (what ``config.yaml`` holds)."""
        return {"type": self.type, **{k: v.to_dict() if isinstance(v, Spec) else v for k, v in self.options.items()}}


@dataclass(frozen=True, eq=False)
class Component:
    """The default value that makes a factory parameter a component of ``registry``.

    Attributes:
        registry: where the component's types are registered.
        auto: the type used when the user names none (or ``auto``): a name, or a function
            ``info -> name`` whose docstring's first line says what it picks.
        presets: this role's defaults per type, ``{type: {option: value}}`` (a GAN critic's
            MLP uses leaky ReLUs), or a function ``info -> that mapping``; user options win.
        follow: a sibling component copied (type and options) when this one names no type;
            options given for this one then apply on top.
        mirror: with ``follow``: reverse the options the entry lists in its registry metadata
            ``mirror=(...)`` (an MLP decoder's ``hidden`` is the encoder's, reversed).
        help: one line for ``genzoo models NAME``.
        needs: registry metadata an entry must have to fill this role, ``{key: value}`` (a
            missing key reads as ``False``): a denoiser needs ``{"time": True}``, a plain
            encoder ``{"time": False}``. Entries that do not fit are neither listed nor accepted.
    """

    registry: Registry
    auto: str | Callable[[Any], str]
    presets: Mapping[str, Mapping[str, Any]] | Callable[[Any], Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    follow: str | None = None
    mirror: bool = False
    help: str = ""
    needs: Mapping[str, Any] = field(default_factory=dict)

    def fits(self, typ: str) -> bool:
        """Whether entry ``typ`` can fill this role (its metadata matches ``needs``)."""
        meta = self.registry.meta(typ)
        return all(meta.get(k, False) == v for k, v in self.needs.items())

    def names(self) -> list[str]:
        """The entries that can fill this role."""
        return [t for t in self.registry.names() if self.fits(t)]

    def pick(self, info: Any) -> str | None:
        """The ``auto`` type for data ``info`` (``None`` if it depends on data not given)."""
        if isinstance(self.auto, str):
            return self.auto
        return None if info is None else self.auto(info)

    def presets_for(self, info: Any) -> Mapping[str, Mapping[str, Any]]:
        return self.presets(info) if callable(self.presets) else self.presets

    def describe(self) -> str:
        """What the default is, in words (``auto: conv for images, mlp otherwise``)."""
        if self.follow is not None:
            return f"{self.follow}{' mirrored' if self.mirror else ''}"
        if isinstance(self.auto, str):
            return self.auto
        doc = (self.auto.__doc__ or "").strip().splitlines()
        return f"auto ({doc[0].rstrip('.')})" if doc else "auto"

    def resolve(self, value: Any, where: str, info: Any = None, base: Spec | None = None) -> Spec | None:
        """``value`` (a name, a mapping with ``type`` and options, a :class:`Spec` or ``None``) as a complete :class:`Spec`."""
        if value is None:
            value = {}
        elif isinstance(value, str):
            value = {"type": value}
        elif isinstance(value, Spec):
            value = value.to_dict()
        if not isinstance(value, Mapping):
            raise GenzooError(f"{where} must be a {self.registry.kind} name or a mapping of its options with a type "
                              f"(e.g. {where}.type=NAME), got {value!r}")
        value = dict(value)
        typ = value.pop("type", "auto")
        if not isinstance(typ, str):
            raise GenzooError(f"{where}.type must be a {self.registry.kind} name, got {typ!r}")
        how = ""
        if typ == "auto" and base is not None:  # follow a sibling: its type and options
            typ, opts = base.type, base.to_dict()
            del opts["type"]
            for k in self.registry.meta(typ).get("mirror", ()) if self.mirror else ():
                if isinstance(opts.get(k), (list, tuple)):
                    opts[k] = type(opts[k])(reversed(opts[k]))
            opts = merge(opts, value)
            how = f" (following {base.type} of {where.rsplit('.', 1)[0]}.{self.follow})"
        else:
            if typ == "auto":
                picked = self.pick(info)
                if picked is None:  # no data yet: check that each option exists somewhere
                    self._check_loosely(value, where)
                    return None
                typ, how = picked, f" (auto picked {picked} for this data)" if not isinstance(self.auto, str) else ""
            try:
                typ = self.registry.canonical(typ)
            except GenzooError as e:
                raise GenzooError(f"{where}.type: {e}") from None
            if not self.fits(typ):
                raise GenzooError(f"{where}.type: {self.registry.kind} '{typ}' cannot fill this role; choose one of: {', '.join(self.names())}")
            opts = merge(dict(self.presets_for(info).get(typ, {})), value)
        factory = self.registry.get(typ)
        fields = {k for k in fields_of(factory) if k not in self.registry.context}
        unknown = sorted(set(opts) - fields)
        if unknown:
            raise GenzooError(f"unknown option {where}.{unknown[0]} of {self.registry.kind} '{typ}'{how}; "
                              f"valid options of {where} are: {', '.join(['type', *sorted(fields)])}")
        return Spec(typ, resolve(factory, opts, where, info=info, context=self.registry.context), self.registry)

    def _check_loosely(self, value: Mapping[str, Any], where: str) -> None:
        known = {k for name in self.names() for k in fields_of(self.registry.get(name)) if k not in self.registry.context}
        unknown = sorted(set(value) - known)
        if unknown:
            raise GenzooError(f"unknown option {where}.{unknown[0]}: no {self.registry.kind} "
                              f"({', '.join(self.names())}) has it")


@dataclass(frozen=True)
class Option:
    """One row of :func:`options_of`: a dotted ``path``, its ``type`` in words, ``default`` and one-line ``help``."""

    path: str
    type: str
    default: Any
    help: str = ""


def _arg_help(fn: Callable[..., Any]) -> dict[str, str]:
    """``{name: first line}`` of the ``Args:`` section of ``fn``'s (or its class's) Google-style docstring."""
    docs = [fn.__doc__ or ""]
    if inspect.isclass(fn):
        docs.append(fn.__init__.__doc__ or "")  # type: ignore[misc]
    out: dict[str, str] = {}
    for doc in docs:
        lines = inspect.cleandoc(doc).splitlines()
        for i, line in enumerate(lines):
            if line.strip() in ("Args:", "Arguments:", "Attributes:") or line.strip().startswith("Args:"):
                first = line.strip()[len("Args:"):].strip() if line.strip().startswith("Args:") else ""
                body = ([first] if first else []) + lines[i + 1 :]
                indent = None
                current: list[str] = []
                for ln in body:
                    if not ln.strip():
                        continue
                    pad = len(ln) - len(ln.lstrip())
                    if indent is None:
                        indent = pad
                    if pad < indent:
                        break
                    m = re.match(r"\s*([\w, ]+):\s*(.*)$", ln)
                    if pad == indent and m:
                        names = [n.strip() for n in m.group(1).split(",")]
                        for n in names:
                            out.setdefault(n, "")
                        text = {n: out[n] == "" for n in names}  # first mention wins
                        current = [n for n in names if text[n]]
                        for n in current:
                            out[n] = m.group(2).strip()
                    elif pad > indent:
                        for n in current:
                            out[n] += " " + ln.strip()
    return {k: _first_sentence(v) for k, v in out.items()}


def _first_sentence(text: str) -> str:
    text = text.replace("``", "").strip()
    m = re.search(r"\.(\s|$)", text)
    return text[: m.start() + 1] if m else text


def options_of(factory: Callable[..., Any], context: tuple[str, ...] = MODELS.context, prefix: str = "") -> list[Option]:
    """Every option of ``factory``, nested component options included, as :class:`Option` rows.

    A component parameter gives one row for itself (type: its registry's entries; default:
    what it picks) and one row per option of each entry it can take, written
    ``name.option`` with the entry named in the help (``[mlp] ...``). A nested model (GMMN's
    ``autoencoder``) lists only the entries it presets or defaults to. The default shown is
    the role's preset when it has one. Help comes from the factories' ``Args:`` docstrings.

    Args:
        factory: a registered factory (a model factory's ``info`` is skipped: ``context``).
        context: parameter names the caller supplies, left out.
        prefix: path prefix of the rows (for nesting).

    Example:
        >>> import genzoo
        >>> rows = {o.path: o for o in options_of(genzoo.MODELS.get("vae"))}
        >>> rows["latent_dim"].default, rows["encoder.hidden"].help.startswith("[mlp]")
        (16, True)
    """
    helps = _arg_help(factory)
    rows: list[Option] = []
    for name, (ann, default) in fields_of(factory).items():
        if name in context:
            continue
        path = prefix + name
        if not isinstance(default, Component):
            rows.append(Option(path, _type_name(ann), "required" if default is _MISSING else default, helps.get(name, "")))
            continue
        reg = default.registry
        rows.append(Option(path, f"{reg.kind}: {' | '.join(['auto', *default.names()])}", default.describe(), default.help or helps.get(name, "")))
        presets = default.presets_for(None)  # callable presets take info=None: the data-free ones
        names = default.names()
        if reg is MODELS and isinstance(default.auto, str):  # every model's options would drown the table
            names = [default.auto]
        for t in names:
            for row in options_of(reg.get(t), reg.context, f"{path}."):
                d: Any = presets.get(t, {})
                for key in row.path[len(path) + 1 :].split("."):  # the role's preset, nested ones too
                    d = d.get(key, _MISSING) if isinstance(d, Mapping) else _MISSING
                d = row.default if d is _MISSING else d
                rows.append(Option(row.path, row.type, d, f"[{t}] {row.help}".rstrip()))
    return rows


def check_fields(obj: Any, where: str) -> None:
    """Coerce and range-check every field of the frozen dataclass ``obj`` in place (its ``__post_init__``)."""
    for name, (ann, _) in fields_of(type(obj)).items():
        object.__setattr__(obj, name, coerce(getattr(obj, name), ann, f"{where}.{name}"))


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


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``extra`` wins.

    A component named by a string on one side and given options on the other
    (``prior: mog`` in a file, ``--set model.prior.n_components=5``) merges as ``{type: mog, ...}``.
    """
    out = dict(base)
    for k, v in extra.items():
        old = out.get(k)
        if isinstance(v, Mapping) and isinstance(old, str):
            old = {"type": old}
        out[k] = merge(old, v) if isinstance(v, Mapping) and isinstance(old, Mapping) else v
    return out


def to_plain(obj: Any) -> Any:
    """Tuples -> lists, :class:`Spec` -> dicts (recursively), so YAML stays plain and safe."""
    if isinstance(obj, Spec):
        return to_plain(obj.to_dict())
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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # name the file the caller asked for, not our temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
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
