r"""Disentanglement of a code against known factors, and the classification error of a code.

Each score compares the deterministic codes c = encode(x) (a VAE's posterior means) of
examples with their ground-truth factor indices v (data with ``info.extras["factors"]``, such
as :func:`~genzoo.data.dsprites.dsprites`, whose labels are the factor indices ``(N, F)``).
The maths are plain functions of two arrays, ``codes (N, d)`` and ``factors (N, F)``; the
registered metrics read the first ``n`` test examples. Protocols follow ``disentanglement_lib``
(Locatello et al. 2019) unless said otherwise:

- **MIG** (Chen et al. 2018): each code dimension discretised into 20 equal-width bins;
  I(c_j; v_k) by counting; MIG = mean_k (I_(1) − I_(2)) / H(v_k), the gap between the two
  code dimensions most informative of factor k, normalised by its entropy. 1 when each factor
  is one code dimension, 0 when a factor is spread evenly (or absent).
- **FactorVAE score** (Kim & Mnih 2018): codes divided by their standard deviation over the
  pool, dimensions with std < 0.05 dropped; a *vote* fixes one factor at a random value,
  draws 64 examples sharing it and names the code dimension of least variance; a majority
  classifier (dimension -> factor) learned on 10,000 votes is scored on 5,000 others.
- **DCI disentanglement** (Eastwood & Williams 2018): an importance matrix R (dimension x
  factor) from one gradient-boosted tree classifier per factor (feature importances;
  ``predictor="forest"``: a faster random forest considering every dimension at each split —
  with random feature subsets, irrelevant dimensions would collect importance by chance);
  D = Σ_j ρ_j (1 − H_F(R_j· / Σ R_j·)) with ρ_j = Σ_k R_jk / Σ R. Completeness and
  informativeness (the classifiers' test accuracy) come with it.
- **SAP** (Kumar et al. 2018): for each factor the test accuracies of a linear classifier
  on each single code dimension; the mean over factors of the gap between the best two.
- **class_error**: the test error of a model's categorical code (the AAE's q(y|x)) as a
  classifier; when its categories are unsupervised clusters, each cluster takes the label of
  the training example it is most confident of (Makhzani et al. 2016, §6) — the majority
  label of its members is reported beside it.

Data pools are samples, so the factor-fixed groups of the FactorVAE score are drawn from the
pool's examples that share the value (with replacement when fewer than 64).

References:
    Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018.
    Kim & Mnih, "Disentangling by Factorising", ICML 2018.
    Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
    Representations", ICLR 2018.
    Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts
    from Unlabeled Observations", ICLR 2018.
    Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
    Disentangled Representations", ICML 2019.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..config import PosInt, Range
from ..errors import GenzooError
from .base import EvalContext, metric
from .two_sample import data_examples

# -- the maths, on arrays ------------------------------------------------------------------------


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each column of ``codes (N, d)`` into ``bins`` equal-width bins over its range: ints ``(N, d)``."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mutual_info_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) between every column of ``a (N, d)`` and of ``b (N, F)``: ``(d, F)``."""
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(b[:, k], a[:, j]) for k in range(b.shape[1])] for j in range(a.shape[1])])


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> dict[str, Any]:
    """Mutual information gap of ``codes (N, d)`` for discrete ``factors (N, F)``."""
    m = mutual_info_matrix(discretize(codes, bins), factors)  # (d, F)
    h = np.diag(mutual_info_matrix(factors, factors))  # H(v_k)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    per = (top[0] - second) / np.maximum(h, 1e-12)
    return {"value": float(per.mean()), "per_factor": per.tolist(), "mutual_info": m.tolist()}


def factor_vae_score(codes: np.ndarray, factors: np.ndarray, train_votes: int = 10_000, eval_votes: int = 5_000,
                     group: int = 64, seed: int = 0) -> dict[str, Any]:
    """Majority-vote accuracy of the FactorVAE score (see the module docstring)."""
    rng = np.random.default_rng(seed)
    std = codes.std(0, ddof=1)
    active = std >= 0.05
    if not active.any():
        return {"value": 0.0, "train_accuracy": 0.0, "active_dims": 0}
    z = codes[:, active] / std[active]  # (N, d')
    F = factors.shape[1]
    members = [{v: np.flatnonzero(factors[:, k] == v) for v in np.unique(factors[:, k])} for k in range(F)]

    def votes(n: int) -> np.ndarray:
        table = np.zeros((F, z.shape[1]), dtype=np.int64)  # (factor, dimension)
        for _ in range(n):
            k = rng.integers(F)
            values = list(members[k])
            pool = members[k][values[rng.integers(len(values))]]
            idx = rng.choice(pool, group, replace=len(pool) < group)
            table[k, np.argmin(z[idx].var(0, ddof=1))] += 1
        return table

    train, test = votes(train_votes), votes(eval_votes)
    rule = train.argmax(0)  # each dimension's factor
    acc = lambda t: float(t[rule, np.arange(t.shape[1])].sum() / t.sum())  # noqa: E731
    return {"value": acc(test), "train_accuracy": acc(train), "active_dims": int(active.sum())}


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    return h / np.log(base) if base > 1 else np.zeros(len(p))


def dci(codes: np.ndarray, factors: np.ndarray, n_train: int, predictor: str = "gbt", seed: int = 0) -> dict[str, Any]:
    """DCI disentanglement (value), completeness and informativeness from per-factor classifiers."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    xtr, xte, ytr, yte = codes[:n_train], codes[n_train:], factors[:n_train], factors[n_train:]
    d, F = codes.shape[1], factors.shape[1]
    R = np.zeros((d, F))
    accuracy = []
    for k in range(F):
        clf = (GradientBoostingClassifier(random_state=seed) if predictor == "gbt"
               else RandomForestClassifier(n_estimators=50, max_depth=8, max_features=None, random_state=seed))
        clf.fit(xtr, ytr[:, k])
        R[:, k] = np.abs(clf.feature_importances_)
        accuracy.append(float(clf.score(xte, yte[:, k])) if len(xte) else float("nan"))
    rho = R.sum(1) / max(R.sum(), 1e-12)
    disent = float((rho * (1 - _entropy_rows(R, F))).sum())
    complete = float(np.mean(1 - _entropy_rows(R.T, d)))
    return {"value": disent, "completeness": complete, "informativeness": float(np.mean(accuracy)), "importance": R.tolist()}


def sap(codes: np.ndarray, factors: np.ndarray, n_train: int) -> dict[str, Any]:
    """SAP score: mean over factors of the gap between the two best single-dimension classifiers."""
    from sklearn.svm import LinearSVC

    xtr, xte, ytr, yte = codes[:n_train], codes[n_train:], factors[:n_train], factors[n_train:]
    S = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            if np.unique(ytr[:, k]).size < 2:
                continue
            clf = LinearSVC(C=0.01, class_weight="balanced")
            clf.fit(xtr[:, j : j + 1], ytr[:, k])
            S[j, k] = clf.score(xte[:, j : j + 1], yte[:, k])
    top = np.sort(S, axis=0)[::-1]
    gaps = top[0] - (top[1] if len(top) > 1 else 0.0)
    return {"value": float(gaps.mean()), "per_factor": gaps.tolist()}


def cluster_labels(probs_train: np.ndarray, y_train: np.ndarray, classes: int) -> dict[str, np.ndarray]:
    """Label of each cluster: of its most confident training example (``paper``) and of its majority (``majority``)."""
    K = probs_train.shape[1]
    assign = probs_train.argmax(1)
    paper, major = np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64)
    for k in range(K):
        paper[k] = y_train[probs_train[:, k].argmax()]
        members = y_train[assign == k]
        major[k] = np.bincount(members, minlength=classes).argmax() if len(members) else paper[k]
    return {"paper": paper, "majority": major}


# -- registered metrics -------------------------------------------------------------------------


@torch.no_grad()
def codes_and_factors(ctx: EvalContext, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic codes ``(n, d)`` and factor indices ``(n, F)`` of the first ``n`` test examples."""
    x = data_examples(ctx, n)
    y = ctx.data.y_test[: len(x)]
    if y.dim() != 2 or y.shape[1] != len(ctx.data.info.extras["factors"]):
        raise GenzooError(f"{ctx.data.info.name}: factor labels must be (N, {len(ctx.data.info.extras['factors'])}), got {tuple(y.shape)}")
    key = f"codes:{len(x)}"
    if key not in ctx.cache:
        model = ctx.model
        ctx.cache[key] = torch.cat([model.encode(x[i : i + ctx.batch_size]).float().cpu() for i in range(0, len(x), ctx.batch_size)])
    codes = ctx.cache[key].double().numpy()
    if not np.isfinite(codes).all():
        raise GenzooError("the model's codes contain NaN or infinite values; check the run's training log")
    return codes, y.cpu().numpy()


def _protocol(n: int, **kw: Any) -> dict[str, Any]:
    return {"n_examples": n, "split": "test", "code": "encode (deterministic)", **kw}


@metric("mig", needs=("encode", "factors"), higher_is_better=True,
        help="mutual information gap of the code for known factors (Chen et al. 2018; 20-bin histograms)")
def mig_metric(ctx: EvalContext, n: Annotated[int, Range(2, 10**7)] = 10_000, bins: Annotated[int, Range(2, 10_000)] = 20) -> dict[str, Any]:
    codes, factors = codes_and_factors(ctx, n)
    out = mig(codes, factors, bins)
    return {**out, "factors": ctx.data.info.extras["factors"], "protocol": _protocol(len(codes), bins=bins)}


@metric("factor_vae_score", needs=("encode", "factors"), higher_is_better=True,
        help="FactorVAE score: majority-vote accuracy of the least-variance code dimension (Kim & Mnih 2018)")
def factor_vae_metric(ctx: EvalContext, n: Annotated[int, Range(2, 10**7)] = 10_000, train_votes: PosInt = 10_000, eval_votes: PosInt = 5_000,
                      group: Annotated[int, Range(2, 10**6)] = 64) -> dict[str, Any]:
    codes, factors = codes_and_factors(ctx, n)
    out = factor_vae_score(codes, factors, train_votes, eval_votes, group, ctx.seed)
    return {**out, "protocol": _protocol(len(codes), train_votes=train_votes, eval_votes=eval_votes, group=group)}


@metric("dci", needs=("encode", "factors"), higher_is_better=True,
        help="DCI disentanglement from per-factor tree classifiers' importances (Eastwood & Williams 2018), with completeness")
def dci_metric(ctx: EvalContext, n_train: Annotated[int, Range(2, 10**7)] = 10_000, n_test: PosInt = 5_000,
               predictor: Literal["gbt", "forest"] = "gbt") -> dict[str, Any]:
    codes, factors = codes_and_factors(ctx, n_train + n_test)
    if len(codes) <= n_train:
        raise GenzooError(f"dci needs more than n_train={n_train} test examples, the data has {len(codes)}; lower dci.n_train")
    out = dci(codes, factors, n_train, predictor, ctx.seed)
    return {**out, "protocol": _protocol(len(codes), n_train=n_train, n_test=len(codes) - n_train, predictor=predictor)}


@metric("sap", needs=("encode", "factors"), higher_is_better=True,
        help="SAP: gap between the two code dimensions best at predicting each factor (Kumar et al. 2018)")
def sap_metric(ctx: EvalContext, n_train: Annotated[int, Range(2, 10**7)] = 10_000, n_test: PosInt = 5_000) -> dict[str, Any]:
    codes, factors = codes_and_factors(ctx, n_train + n_test)
    if len(codes) <= n_train:
        raise GenzooError(f"sap needs more than n_train={n_train} test examples, the data has {len(codes)}; lower sap.n_train")
    return {**sap(codes, factors, n_train), "protocol": _protocol(len(codes), n_train=n_train, n_test=len(codes) - n_train)}


@metric("class_error", needs=("classify", "labels"),
        help="test error of the model's categorical code as a classifier (semi-supervised AAE; clusters mapped to labels)")
def class_error_metric(ctx: EvalContext, n: PosInt | None = None, n_assign: PosInt = 10_000) -> dict[str, Any]:
    """Fraction of test examples whose category (mapped to a label) is wrong.

    Options:
        n: test examples (default ``ctx.n``).
        n_assign: training examples used to map unsupervised clusters onto labels.
    """
    model, data = ctx.model, ctx.data
    x = data_examples(ctx, n)
    y = data.y_test[: len(x)].cpu().numpy()

    def probs(xs: Tensor) -> np.ndarray:
        return torch.cat([model.classify(xs[i : i + ctx.batch_size].to(ctx.device)).float().cpu()
                          for i in range(0, len(xs), ctx.batch_size)]).numpy()

    pred = probs(x).argmax(1)
    if model.classes_are_labels:
        err = float((pred != y).mean())
        return {"value": err, "protocol": {"n_test": len(x), "split": "test", "rule": "category = label"}}
    xa, ya = data.x_train[:n_assign], data.y_train[:n_assign].cpu().numpy()
    rules = cluster_labels(probs(xa), ya, data.info.num_classes)
    errs = {k: float((v[pred] != y).mean()) for k, v in rules.items()}
    used = int(len(np.unique(pred)))
    return {"value": errs["paper"], "majority_error": errs["majority"], "clusters_used": used,
            "protocol": {"n_test": len(x), "n_assign": len(xa), "split": "test", "clusters": int(probs(x[:1]).shape[1]),
                         "rule": "cluster -> label of its most confident training example (Makhzani et al. §6)"}}
