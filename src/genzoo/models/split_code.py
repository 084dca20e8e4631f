r"""Autoencoders whose code has named parts: the semi-supervised / clustering adversarial
autoencoder (a categorical code y and a style code z) and the disentangled Wasserstein
autoencoder (a functional code z_f that holds the label and a structural code z_s).

Both are :class:`~genzoo.models.autoencoders.AE` with a latent match
(:mod:`genzoo.models.latent_matching`) plus what reads the label from the code:

=============  ==================================================  ==================================================
model          objective                                           players
=============  ==================================================  ==================================================
aae_semi       rec; adv on y (one-hot prior) and z (N(0, I));      autoencoder, latent_critic_y, latent_critic_z,
               CE of q(y|x) on the few labelled examples           encoder, classifier
aae_cluster    the same without labels: y is a cluster             autoencoder, latent_critic_y, latent_critic_z, encoder
dwae           rec + μ·CE(C(z_f), y) + λ·MMD²([z_f, z_s], N(0, I))  autoencoder
=============  ==================================================  ==================================================

References:
    Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders", ICLR 2016 workshop, §5-6.
    Li, Guo, Grazioli, Gerstein & Min, "Disentangled Wasserstein Autoencoder for T-Cell Receptor
    Engineering", NeurIPS 2023.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import PosFloat, PosInt, Range, Seed, Size, Spec, Weight
from ..data.base import Batch, Data, DataInfo
from ..distributions import Likelihood, StandardNormal, UniformCategorical
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .autoencoders import AE, DECODER, ENCODER, LIKELIHOOD, build_nets
from .base import Player
from .latent_matching import ADAM_CRITIC, COST, SCALES, AdversarialMatch, LatentMatch, SplitMatch, check_latent, mmd_match


class CategoricalAAE(AE):
    r"""Adversarial autoencoder with a categorical code y and a style code z (Makhzani et al. §5, §6).

    The encoder outputs K logits and a style vector; the code is ``[softmax(logits), z]``
    (K + d values) and the decoder reads all of it. ``match`` (a :class:`SplitMatch` with parts
    ``y`` and ``z``) pushes y to one-hot draws of a uniform categorical and z to N(0, I), which
    makes y a cluster assignment. With ``labels > 0`` a balanced subset of that many training
    examples keeps its labels, and the player ``classifier`` minimises the cross-entropy of
    q(y|x) on them (the semi-supervised phase); with ``labels = 0`` the categories are
    unsupervised clusters.

    Args:
        categories: K.
        style_dim: d.
        labels: labelled training examples (0: unsupervised clustering).
        label_seed: seeds the choice of labelled examples.
        label_batch: labelled examples per classifier update.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, info: DataInfo,
                 categories: int, style_dim: int, match: SplitMatch, labels: int = 0, label_seed: int = 0,
                 label_batch: int = 100, phases: str = "separate", classifier_optim: dict[str, Any] | None = None) -> None:
        super().__init__(encoder, decoder, likelihood, info, categories + style_dim, match=match, phases=phases)
        if labels < 0:
            raise GenzooError(f"labels counts labelled examples and must be >= 0, got {labels}")
        if labels and info.num_classes != categories:
            raise GenzooError(f"semi-supervised training maps labels onto categories, so categories must equal "
                              f"the data's {info.num_classes} classes, got {categories}")
        self.categories, self.style_dim = categories, style_dim
        self.labels, self.label_seed, self.label_batch = labels, label_seed, label_batch
        self.classifier_optim = dict(classifier_optim or {})
        self.conditional = labels > 0  # categories are the data's classes: pictures per class
        self.classes_are_labels = labels > 0
        self.register_buffer("labelled_x", torch.zeros(labels, *info.shape))
        self.register_buffer("labelled_y", torch.full((labels,), -1, dtype=torch.long))
        self._labelled_ready = False

    # -- codes ------------------------------------------------------------------------------
    def heads(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Category logits ``(B, K)`` and style ``(B, d)`` (a sequence encoder also gets the mask)."""
        h = self.encoder(x) if mask is None else self.encoder(x, mask)
        return h[:, : self.categories], h[:, self.categories :]

    def encode(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        logits, z = self.heads(x, mask)
        return torch.cat([torch.softmax(logits, 1), z], 1)  # (B, K + d)

    def code(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.encode(x, c, mask)

    def dec_input(self, z: Tensor, c: Tensor | None) -> Tensor:
        return z

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """q(y|x): category probabilities ``(B, K)``."""
        return torch.softmax(self.heads(x)[0], 1)

    # -- labelled examples (the semi-supervised phase) ----------------------------------------
    def on_fit_start(self, data: Data) -> None:
        if self.labels == 0 or bool((self.labelled_y >= 0).all()):
            self._labelled_ready = True
            return  # unsupervised, or already chosen (a resumed run restores them)
        if data.y_train is None:
            raise GenzooError(f"labels={self.labels} asks for labelled examples, but {data.info.name} has no labels; use labels=0")
        idx = select_labelled(data.y_train, self.labels, self.categories, self.label_seed)
        self.labelled_x.copy_(data.x_train[idx])
        self.labelled_y.copy_(data.y_train[idx])
        self._labelled_ready = True

    def classifier_loss(self, batch: Batch) -> dict[str, Tensor]:
        if not self._labelled_ready:  # a Python flag: no host sync in the step loop
            raise GenzooError("the labelled examples are chosen when training starts; call model.on_fit_start(data) "
                              "before using the classifier player outside the trainer")
        n = min(self.label_batch, self.labels)
        idx = torch.randperm(self.labels, device=self.labelled_y.device)[:n]
        logits, _ = self.heads(self.labelled_x[idx])
        ce = F.cross_entropy(logits, self.labelled_y[idx])
        return {"loss": ce, "acc": (logits.argmax(1) == self.labelled_y[idx]).float().mean()}

    def players(self) -> list[Player]:
        players = super().players()
        if self.labels:
            enc = [p for p in self.encoder.parameters() if p.requires_grad]
            players.append(Player("classifier", enc, self.classifier_loss, optim=dict(self.classifier_optim)))
        return players

    # -- sampling ---------------------------------------------------------------------------
    def _default_labels(self, n: int, c: Tensor | None) -> Tensor | None:
        return c  # no label: the category is drawn from its prior in sample_latent

    def sample_latent(self, n: int, c: Tensor | None = None) -> Tensor:
        z = super().sample_latent(n)  # (n, K + d) from the product prior
        if c is not None:
            z[:, : self.categories] = F.one_hot(c.long().to(z.device), self.categories).to(z.dtype)
        return z


def select_labelled(y: Tensor, n: int, classes: int, seed: int = 0) -> Tensor:
    """Indices of ``n`` examples, as balanced over ``classes`` as the labels allow, chosen by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    y = y.cpu()
    per = [torch.nonzero(y == k).flatten() for k in range(classes)]
    per = [ix[torch.randperm(len(ix), generator=g)] for ix in per]
    take: list[int] = []
    for rank in range(max(len(ix) for ix in per)):  # round robin over the classes
        for ix in per:
            if rank < len(ix):
                take.append(int(ix[rank]))
            if len(take) == n:
                return torch.tensor(take)
    raise GenzooError(f"asked for {n} labelled examples but the data has only {len(take)}; lower labels")


class DisentangledWAE(AE):
    r"""Disentangled Wasserstein autoencoder (Li et al. 2023): z = [z_f, z_s].

    The loss is the WAE's reconstruction + λ·MMD²(q(z), N(0, I)) over the whole code, plus μ
    times the cross-entropy of a classifier that reads the label from z_f alone. The joint
    match makes q(z_f, z_s) ≈ N(0, I) = p(z_f) p(z_s), so z_s is pushed to be independent of
    z_f — which holds the label — and keeps what the label does not decide (the "structure";
    on digits, the style). Editing (:meth:`swap`) replaces an example's z_f by another's.

    Args:
        classifier: ``(B, func_dim) -> (B, K)`` logits.
        func_dim, struct_dim: sizes of z_f and z_s.
        match: the WAE penalty on the whole code (an :class:`MMDMatch`).
        class_weight: μ.
        label_column: ``None``: the label is the batch's class label ``c (B,)``; an index: the
            label is that column of factor labels ``c (B, F)`` (one factor of dSprites as the
            "function").
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, classifier: nn.Module, likelihood: Likelihood,
                 info: DataInfo, func_dim: int, struct_dim: int, match: LatentMatch, class_weight: float = 1.0,
                 posterior: str = "deterministic", label_column: int | None = None) -> None:
        super().__init__(encoder, decoder, likelihood, info, func_dim + struct_dim, match=match, posterior=posterior)
        self.classifier, self.func_dim, self.struct_dim, self.class_weight = classifier, func_dim, struct_dim, class_weight
        self.label_column = label_column
        self.classes_are_labels = label_column is None

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[:, : self.func_dim], z[:, self.func_dim :]

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        if batch.c is None:
            raise GenzooError("the disentangled WAE needs labelled batches; train it on labelled data")
        y = (batch.c if self.label_column is None else batch.c[:, self.label_column]).long()
        z = self.code(self.corrupt(batch.x), None, batch.mask)
        rec = batch.mean(-self.log_px(z, batch.x, None, batch.mask))
        logits = self.classifier(self.split(z)[0])
        ce = batch.mean(F.cross_entropy(logits, y, reduction="none"))
        acc = (logits.argmax(1) == y).float().mean()
        return self.regularised({"loss": rec + self.class_weight * ce, "rec": rec, "ce": ce, "acc": acc}, z, batch)

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """The label read from z_f: class probabilities ``(B, K)``."""
        return torch.softmax(self.classifier(self.split(self.encode(x))[0]), 1)

    @torch.no_grad()
    def swap(self, x: Tensor, donor: Tensor) -> Tensor:
        """``x`` with its z_f replaced by ``donor``'s (same batch size): the edited examples."""
        zf, _ = self.split(self.encode(donor))
        _, zs = self.split(self.encode(x))
        return self.decode(torch.cat([zf, zs], 1))


# -- factories -----------------------------------------------------------------------------------

# the paper's MNIST networks: 1000-1000 ReLU autoencoder and adversaries (Makhzani et al., App. A)
AAE_ENCODER = net("mlp", mlp={"hidden": (1000, 1000)}, help="q(y, z | x): data -> K category logits + style code")
AAE_CRITIC = net("mlp", mlp={"hidden": (1000, 1000), "act": "leaky_relu"}, help="each latent critic (y and z): code -> score")


def _categorical_aae(info: DataInfo, categories: int, style_dim: int, labels: int, encoder: Spec, decoder: Spec,
                     likelihood: Spec, critic: Spec, label_seed: int, label_batch: int) -> CategoricalAAE:
    if categories < 2:
        raise GenzooError(f"the categorical code needs at least 2 categories, got {categories}")
    check_latent(style_dim, "style_dim")
    if labels and info.num_classes < 2:
        raise GenzooError(f"labels={labels} asks for labelled examples, but {info.name} has no labels; use labels=0")
    lik = likelihood.build(info=info)
    d = categories + style_dim
    enc, dec = build_nets(info, encoder, decoder, lik, d, d)

    def part(dim: int, target: Any) -> tuple[int, LatentMatch]:
        crit = critic.build(in_shape=(dim,), out_shape=(1,))
        return dim, AdversarialMatch(crit, target, critic_optim=dict(ADAM_CRITIC), generator_optim=dict(ADAM_CRITIC))

    match = SplitMatch({"y": part(categories, UniformCategorical(1, categories)), "z": part(style_dim, StandardNormal(style_dim))})
    return CategoricalAAE(enc, dec, lik, info, categories, style_dim, match, labels, label_seed, label_batch,
                          classifier_optim=dict(ADAM_CRITIC))


@MODELS.register("aae_semi", help="semi-supervised adversarial autoencoder (Makhzani et al. §5): categorical + style codes, "
                 "labels on a few examples (labels=100)",
                 tiny_fit={"data": "image", "model": {"labels": 10, "encoder": {"hidden": (64, 64)}, "critic": {"hidden": (64, 64)}}})
def aae_semi(
    info: DataInfo,
    labels: Annotated[int, Range(0, 10**7)] = 100,
    style_dim: Size = 10,
    encoder: Spec = AAE_ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    critic: Spec = AAE_CRITIC,
    label_seed: Seed = 0,
    label_batch: PosInt = 100,
) -> CategoricalAAE:
    """Args:
        labels: training examples that keep their label (balanced over classes, chosen by
            label_seed); the categories are the data's classes.
        style_dim: size of the Gaussian style code.
        label_seed: seeds the choice of the labelled examples.
        label_batch: labelled examples per classifier update.
    """
    if info.num_classes < 2:
        raise GenzooError(f"the semi-supervised AAE maps labels onto categories, but {info.name} has no labels; use aae_cluster")
    return _categorical_aae(info, info.num_classes, style_dim, labels, encoder, decoder, likelihood, critic, label_seed, label_batch)


@MODELS.register("aae_cluster", help="unsupervised clustering with an adversarial autoencoder (Makhzani et al. §6): "
                 "a categorical code of `categories` clusters + a style code",
                 tiny_fit={"data": "image", "model": {"encoder": {"hidden": (64, 64)}, "critic": {"hidden": (64, 64)}}})
def aae_cluster(
    info: DataInfo,
    categories: Annotated[int, Range(2, 10_000)] = 16,
    style_dim: Size = 10,
    encoder: Spec = AAE_ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    critic: Spec = AAE_CRITIC,
) -> CategoricalAAE:
    """Args:
        categories: number of clusters K (16 or 30 in the paper for MNIST).
        style_dim: size of the Gaussian style code.
    """
    return _categorical_aae(info, categories, style_dim, 0, encoder, decoder, likelihood, critic, 0, 100)


@MODELS.register("dwae", help="disentangled Wasserstein autoencoder (Li et al. 2023): z = (z_f, z_s), a classifier reads the label "
                 "from z_f, MMD to N(0, I); swap z_f to edit", data_kinds=("image",),
                 tiny_fit={"model": {"encoder": {"type": "mlp", "hidden": (64, 64)}}})
def dwae(
    info: DataInfo,
    func_dim: Size = 4,
    struct_dim: Size = 12,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = COST,
    classifier: Spec = net("mlp", mlp={"hidden": (128,)}, help="C: z_f -> label logits"),
    class_weight: Weight = 1.0,
    weight: Weight = 10.0,
    kernel: Literal["wae_imq", "gaussian"] = "wae_imq",
    scales: tuple[PosFloat, ...] = SCALES,
    label: str = "",
) -> DisentangledWAE:
    """Args:
        func_dim: size of the functional code z_f (the label's).
        struct_dim: size of the structural code z_s (the rest: on digits, the style).
        likelihood: the reconstruction cost (a Gaussian's σ is fixed, as for wae_mmd).
        class_weight: μ of the classifier's cross-entropy.
        weight: λ of the MMD penalty on [z_f, z_s].
        kernel: the MMD kernel (as for wae_mmd).
        scales: the kernel scales (as for wae_mmd).
        label: what z_f must hold: empty for the data's class labels, or the name of one of
            the data's factors (``label=shape`` on dsprites).
    """
    check_latent(func_dim, "func_dim")
    check_latent(struct_dim, "struct_dim")
    column, classes = None, info.num_classes
    if label:
        factors = list(info.extras.get("factors", ()))
        if label not in factors:
            raise GenzooError(f"label={label} names a factor, but {info.name} has "
                              + (f"only the factors {', '.join(factors)}" if factors else "no factors") + "; leave label empty")
        column, classes = factors.index(label), int(info.extras["factor_sizes"][factors.index(label)])
    elif classes < 2:
        raise GenzooError(f"the disentangled WAE reads labels from z_f, but {info.name} has no labels; use labelled data "
                          "(or label=FACTOR on data with factors)")
    d = func_dim + struct_dim
    lik = likelihood.build(info=info)
    enc, dec = build_nets(info, encoder, decoder, lik, d, d)
    clf = classifier.build(in_shape=(func_dim,), out_shape=(classes,))
    return DisentangledWAE(enc, dec, clf, lik, info, func_dim, struct_dim,
                           mmd_match(StandardNormal(d), d, weight, kernel, scales), class_weight, label_column=column)
