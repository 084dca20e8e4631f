"""Two-domain metrics: target accuracy of adapted classifiers, and the quality of translations.

On two-domain data (``--data A+B``: streams ``a`` and ``b``):

- ``target_accuracy``: accuracy of an adaptation model's classifier (ADDA, DANN, source-only)
  on the *target* test split, stream ``b`` (the paper's figure), with the source test
  accuracy beside it.
- ``label_preservation``: a translation a -> b keeps the digit if a classifier of domain b
  reads the label of the source image from the translated one. The classifier is the
  feature network of the target stream (:func:`~genzoo.metrics.features.feature_net`, trained
  once on that dataset's labelled training split and cached); its own test accuracy is in
  the protocol (the ceiling of this metric).
- ``cycle_error``: mean absolute difference per pixel between test images and their round
  trips a -> b -> a (and b -> a -> b), on the data's value scale.
- ``translation_fid``: Fréchet distance, in the target domain's classifier features, between
  translated source test images and real target test images; ``untranslated`` is the
  distance of the source images themselves (what translation should shrink).

Every value is the mean over the model's directions, each direction reported beside it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ..config import Range
from ..data.base import Data
from ..errors import GenzooError
from ..models.base import CanTranslate
from .base import EvalContext, NotApplicable, metric
from .features import DEFAULT_EPOCHS, embed, feature_id, feature_net
from .quality import fid_from_features

#: Feature networks of small domains train on at least this many examples (one MNIST epoch,
#: 40 passes over the 1,500 scikit-learn digits) with 2-pixel shifts, so they do not stop after
#: the ~35 updates that the default 3 epochs would give them.
MIN_EXAMPLES = 60_000
#: Test examples per domain or direction; 0 takes the whole test split.
Count = Annotated[int, Range(0, 10**9)]


@runtime_checkable
class ClassifiesDomains(Protocol):
    """An adapted classifier: class logits of examples of either domain (``"a"`` source, ``"b"`` target)."""

    def predict(self, x: Tensor, c: Tensor | None = None, domain: str = "b") -> Tensor: ...


def _streams(ctx: EvalContext) -> dict[str, Data]:
    if not ctx.data.streams:
        raise NotApplicable(f"{ctx.data.info.name} is one dataset; two-domain metrics need --data A+B")
    return ctx.data.streams


@torch.no_grad()
def _batched(fn: Any, x: Tensor, ctx: EvalContext) -> Tensor:
    dev = torch.device(ctx.device)
    return torch.cat([fn(x[i : i + ctx.batch_size].to(dev)).float().cpu() for i in range(0, len(x), ctx.batch_size)])


@metric("target_accuracy", needs=("streams",), higher_is_better=True,
        help="accuracy of an adapted classifier (ADDA, DANN, source-only) on the target test split (stream b)")
def target_accuracy(ctx: EvalContext, n: Count = 0) -> dict[str, Any]:
    """Target test accuracy (value, in [0, 1]), source test accuracy, and ``unadapted``: the
    target accuracy through the source encoder (for ADDA the stage-1 classifier, i.e. the
    source-only baseline on the same run; for single-encoder models the value itself).

    Options:
        n: test examples per domain (0: the whole test splits).
    """
    streams, model = _streams(ctx), ctx.model
    if not isinstance(model, ClassifiesDomains):
        raise NotApplicable(f"{type(model).__name__} does not classify; target accuracy needs ADDA, DANN or source_only")
    out: dict[str, Any] = {}
    for key, domain in (("value", "b"), ("source_accuracy", "a")):
        d = streams[domain]
        if d.y_test is None:
            raise NotApplicable(f"stream {domain} ({d.info.name}) has no test labels")
        m = len(d.x_test) if n <= 0 else min(n, len(d.x_test))
        logits = _batched(lambda x: model.predict(x, domain=domain), d.x_test[:m], ctx)
        out[key] = float((logits.argmax(1) == d.y_test[:m]).float().mean())
        out[f"n_{domain}"] = m
    d = streams["b"]
    logits = _batched(lambda x: model.predict(x, domain="a"), d.x_test[: out["n_b"]], ctx)  # the target through the source encoder
    out["unadapted"] = float((logits.argmax(1) == d.y_test[: out["n_b"]]).float().mean())
    out["protocol"] = {"split": "test", "source": streams["a"].info.name, "target": streams["b"].info.name,
                       "n_target": out.pop("n_b"), "n_source": out.pop("n_a")}
    return out


# -- translation ---------------------------------------------------------------------------------


def _directions(ctx: EvalContext) -> list[tuple[str, str, str]]:
    """``(direction, source stream, target stream)`` for each of the model's directions."""
    _streams(ctx)
    model = ctx.model
    if not isinstance(model, CanTranslate):
        raise NotApplicable(f"{type(model).__name__} does not translate")
    pairs = {"a2b": ("a", "b"), "b2a": ("b", "a")}
    out = [(d, *pairs[d]) for d in model.directions if d in pairs]
    if not out:
        raise NotApplicable(f"{type(model).__name__} translates {model.directions}, none of a2b, b2a")
    return out


def _test(ctx: EvalContext, stream: str, n: int) -> tuple[Tensor, Tensor | None]:
    d = ctx.data.streams[stream]  # type: ignore[index]
    m = len(d.x_test) if n <= 0 else min(n, len(d.x_test))
    return d.x_test[:m], None if d.y_test is None else d.y_test[:m]


def _translated(ctx: EvalContext, direction: str, source: str, n: int) -> Tensor:
    """Test images of ``source`` translated by ``direction`` (CPU, cached per evaluation)."""
    key = ("translated", direction, n)
    if key not in ctx.cache:
        ctx.cache[key] = _batched(lambda x: ctx.model.translate(x, direction), _test(ctx, source, n)[0], ctx)
    return ctx.cache[key]


def domain_classifier(ctx: EvalContext, stream: str, train: bool = True) -> torch.nn.Module:
    """The cached classifier (feature network) of one stream's dataset, trained first if missing."""
    key = ("domain_net", stream)
    if key not in ctx.cache:
        d = ctx.data.streams[stream]  # type: ignore[index]
        if d.info.num_classes < 2 or d.y_train is None:
            raise NotApplicable(f"stream {stream} ({d.info.name}) has no labels to train its domain classifier on")
        epochs = max(DEFAULT_EPOCHS, math.ceil(MIN_EXAMPLES / len(d.x_train)))
        net = feature_net(d, train=train, progress=ctx.progress, epochs=epochs, augment=2 if len(d.x_train) < 10_000 else 0)
        ctx.cache[key] = net.to(torch.device(ctx.device)).eval()
    return ctx.cache[key]


def _classifier_protocol(net: torch.nn.Module) -> dict[str, Any]:
    acc = getattr(net, "genzoo_accuracy", None)
    return {"classifier": feature_id(net), "classifier_test_accuracy": acc}


@metric("label_preservation", needs=("streams", "translate"), higher_is_better=True,
        help="translations keep their label: a target-domain classifier's accuracy on translated test images")
def label_preservation(ctx: EvalContext, n: Count = 0, train_features: bool = True) -> dict[str, Any]:
    """Accuracy (in [0, 1]) of the target domain's classifier on translated source test images.

    Options:
        n: test images per direction (0: the whole test split).
        train_features: train a missing domain classifier (else it is an error).
    """
    out: dict[str, Any] = {}
    untranslated: dict[str, float] = {}  # the same classifier on the source images as they are
    protocol: dict[str, Any] = {"split": "test"}
    for direction, source, target in _directions(ctx):
        x, y = _test(ctx, source, n)
        if y is None:
            raise NotApplicable(f"stream {source} has no test labels")
        net = domain_classifier(ctx, target, train_features)
        logits = _batched(net, _translated(ctx, direction, source, n), ctx)
        out[direction] = float((logits.argmax(1) == y).float().mean())
        untranslated[direction] = float((_batched(net, x, ctx).argmax(1) == y).float().mean())
        protocol[direction] = {"n": len(x), **_classifier_protocol(net)}
    out["value"] = sum(out.values()) / len(out)
    return {**out, "untranslated": untranslated, "protocol": protocol}


@metric("cycle_error", needs=("streams", "translate"), help="mean absolute per-pixel error of the round trips a->b->a and b->a->b on test images")
def cycle_error(ctx: EvalContext, n: Count = 0) -> dict[str, Any]:
    """Mean |x - F(G(x))| per pixel over test images, per direction of the first translation.

    Options:
        n: test images per direction (0: the whole test split).
    """
    out: dict[str, Any] = {}
    back = {"a2b": "b2a", "b2a": "a2b"}
    directions = _directions(ctx)
    if len(directions) < 2:
        raise NotApplicable(f"{type(ctx.model).__name__} translates one way only; a cycle needs both")
    for direction, source, _ in directions:
        x = _test(ctx, source, n)[0]
        rec = _batched(lambda v: ctx.model.translate(v, back[direction]), _translated(ctx, direction, source, n), ctx)
        out[direction] = float((rec - x).abs().mean())
    out["value"] = sum(out.values()) / len(out)
    return {**out, "protocol": {"split": "test", "n": {d: len(_test(ctx, s, n)[0]) for d, s, _ in directions}, "norm": "L1 per pixel"}}


@metric("translation_fid", needs=("streams", "translate"),
        help="FID between translated source test images and real target test images, in the target classifier's features")
def translation_fid(ctx: EvalContext, n: Count = 0, train_features: bool = True) -> dict[str, Any]:
    """Fréchet distance to the target domain per direction (value: their mean).

    ``untranslated`` holds the distance of the untranslated source images to the same target
    images: what a translation starts from. Test splits of different sizes (MNIST 10,000,
    digits 297) are used whole; FID is biased upwards for small sets, so compare numbers with
    the same ``n`` only.

    Options:
        n: images per set (0: the whole test splits).
        train_features: train a missing domain classifier (else it is an error).
    """
    out: dict[str, Any] = {}
    untranslated: dict[str, float] = {}
    protocol: dict[str, Any] = {"split": "test"}
    for direction, source, target in _directions(ctx):
        net = domain_classifier(ctx, target, train_features)
        real = embed(net, _test(ctx, target, n)[0], batch_size=ctx.batch_size)
        fake = embed(net, _translated(ctx, direction, source, n), batch_size=ctx.batch_size)
        if len(real) < 2 or len(fake) < 2:
            raise GenzooError("translation_fid needs at least 2 test images per domain; raise n")
        out[direction] = float(fid_from_features(real, fake))
        untranslated[direction] = float(fid_from_features(real, embed(net, _test(ctx, source, n)[0], batch_size=ctx.batch_size)))
        protocol[direction] = {"n_real": len(real), "n_translated": len(fake), **_classifier_protocol(net)}
    out["value"] = sum(out.values()) / len(out)
    return {**out, "untranslated": untranslated, "protocol": protocol}
