"""Two domains: unpaired translation (CycleGAN) and adversarial domain adaptation (ADDA, DANN).

All four models train on two-domain data (``--data A+B``, :mod:`genzoo.data.pairs`): stream
``a`` and stream ``b``. For adaptation, ``a`` is the labelled *source* and ``b`` the
*target* domain, whose labels are never used in training (only to measure target accuracy).

**CycleGAN** learns G: a -> b and F: b -> a from unpaired images. Players ``generators`` (G and
F) and ``critics`` (D_a, D_b), both drawing one batch of each stream per round:

.. math::
    \\min_{G,F}\\; \\mathbb E_a (D_b(G(a)) - 1)^2 + \\mathbb E_b (D_a(F(b)) - 1)^2
        + \\lambda\\,(\\mathbb E_a \\|F(G(a)) - a\\|_1 + \\mathbb E_b \\|G(F(b)) - b\\|_1)
        + \\lambda\\lambda_{id}\\,(\\mathbb E_b \\|G(b) - b\\|_1 + \\mathbb E_a \\|F(a) - a\\|_1)

and each critic minimises ½(D(real) - 1)² + ½ D(fake)² (least squares, halved as in the
paper), its fakes drawn from a history of the last 50 generated images (:class:`HistoryBuffer`).
The learning rate is constant for the first half of training, then decays linearly to zero.

**ADDA** has two stages. ``source``: encoder M_s and classifier C on labelled source batches.
``adapt``: its ``on_start`` copies M_s into the target encoder M_t; then the ``critic`` D learns
to tell source features M_s(x_s) from target features M_t(x_t), and ``target_encoder`` M_t is
trained with the inverted label (its features should be called *source*), while M_s and C stay
fixed. Target examples are classified by C(M_t(x)).

**DANN** is one stage: encoder, classifier and a domain classifier behind a gradient-reversal
layer, trained together; **source_only** trains encoder + classifier on the source alone (the
baseline both improve on).

References:
    Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks", ICCV 2017.
    Shrivastava et al., "Learning from Simulated and Unsupervised Images through Adversarial
    Training", CVPR 2017 (the history of generated images).
    Tzeng, Hoffman, Saenko & Darrell, "Adversarial Discriminative Domain Adaptation", CVPR 2017.
    Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Range, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..errors import GenzooError
from ..nets.base import net
from ..registry import MODELS
from .base import GenerativeModel, Player, Stage
from .gan import adversarial_loss, output_activation

LR = Annotated[float, Range(0, 10, lo_open=True)]
SOURCE, TARGET = "a", "b"  # the streams of an A+B pair: A is the source domain, B the target
ADAM_CYCLEGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}  # Zhu et al. §4, appendix 7.1


def _check_images(info: DataInfo, model: str) -> None:
    if info.kind != "image" or len(info.shape) != 3:
        raise GenzooError(f"{model} needs images (C, H, W), but {info.name} has kind {info.kind!r} and shape {info.shape}")


class HistoryBuffer(nn.Module):
    """The last ``size`` generated images a critic trains on (Shrivastava et al. 2017, §2.3).

    :meth:`query` returns as many images as it is given. While the buffer is filling, each new
    image is stored and returned. Once it is full, each new image is, with probability ½,
    returned as is; otherwise a uniformly chosen stored image is returned in its place and the
    new image takes its slot. Images are handled in order, so two new images drawing the same
    slot behave as if queried one after the other. Each image travels with the weight of the
    example it was generated from (weighted data, :meth:`~genzoo.data.Batch.mean`). The stored
    images, weights and count are buffers: they are saved with the model, and a resumed run
    continues with the same history.
    """

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))  # (size, C, H, W)
        self.register_buffer("weights", torch.ones(size))  # (size,)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, x: Tensor, weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(images (B, ...), weights (B,))`` to train on, given new images ``x`` and their weights."""
        x = x.detach()
        w = torch.ones(len(x), device=x.device) if weight is None else weight.detach().to(x.device, torch.float32)
        if self.size == 0:
            return x, w
        out, out_w = x.clone(), w.clone()
        swap = (torch.rand(len(x), device=x.device) < 0.5).tolist()  # one host read per call
        slots = torch.randint(self.size, (len(x),), device=x.device).tolist()
        n = int(self.count)
        for i in range(len(x)):
            if n < self.size:
                self.images[n], self.weights[n] = x[i], w[i]
                n += 1
            elif swap[i]:
                j = slots[i]
                out[i], out_w[i] = self.images[j], self.weights[j]
                self.images[j], self.weights[j] = x[i], w[i]
        self.count.fill_(n)
        return out, out_w


def _weighted(v: Tensor, w: Tensor) -> Tensor:
    """``sum w v / sum w`` of per-example values ``v (B,)`` (the history's fakes carry their own weights)."""
    return (w * v).sum() / w.sum()


def _per_example(v: Tensor) -> Tensor:
    """Mean over everything but the batch dimension: ``(B, ...) -> (B,)``."""
    return v.flatten(1).mean(1)


class CycleGAN(GenerativeModel):
    """Unpaired translation a <-> b with cycle consistency (see the module notes).

    Args:
        info: the pair's metadata (one image shape for both streams).
        g_ab, g_ba: generators ``(B, C, H, W) -> (B, C, H, W)`` raw outputs.
        d_a, d_b: critics of domain a and b, raw (patch) scores.
        cycle: λ, the weight of the cycle losses (10 in the paper).
        identity: λ_id, the identity loss weight relative to λ (0.5 in the authors' code; 0 off).
        history: images kept per critic's history of fakes (50; 0: train on the newest fakes).
        decay_start: share of training with a constant learning rate before the linear decay.
    """

    directions = ("a2b", "b2a")

    def __init__(self, info: DataInfo, g_ab: nn.Module, g_ba: nn.Module, d_a: nn.Module, d_b: nn.Module, *,
                 cycle: float = 10.0, identity: float = 0.5, history: int = 50, decay_start: float = 0.5,
                 optim: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.info = info
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.cycle, self.identity, self.decay_start = cycle, identity, decay_start
        self.pool_a, self.pool_b = HistoryBuffer(history, info.shape), HistoryBuffer(history, info.shape)
        self.adv = adversarial_loss("least_squares")
        self.out_act = output_activation(info)
        self.optim = dict(optim or ADAM_CYCLEGAN)
        self._fakes: tuple[Tensor, Tensor, Tensor, Tensor] | None = None  # (a, b, G(a), F(b)) of the last generator step

    def _out(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw) if self.out_act == "sigmoid" else torch.tanh(raw) if self.out_act == "tanh" else raw

    def translate(self, x: Tensor, direction: str = "a2b", c: Tensor | None = None) -> Tensor:
        """``x`` of one domain as the other: ``"a2b"`` applies G, ``"b2a"`` applies F."""
        if direction not in self.directions:
            raise GenzooError(f"CycleGAN translates {' or '.join(self.directions)}, not '{direction}'")
        return self._out((self.g_ab if direction == "a2b" else self.g_ba)(x))

    def _score(self, critic: nn.Module, x: Tensor, term: Any) -> Tensor:
        return _per_example(term(critic(x)))  # patch scores (B, 1, h, w) -> per-example loss (B,)

    def generator_loss(self, batch: dict[str, Batch]) -> dict[str, Tensor]:
        ba, bb = batch["a"], batch["b"]
        a, b = ba.x, bb.x
        fake_b, fake_a = self.translate(a, "a2b"), self.translate(b, "b2a")
        # the table's least-squares generator term is ½(f - 1)²; the paper's L_GAN is (f - 1)²
        adv = ba.mean(self._score(self.d_b, fake_b, self.adv.generator)) + bb.mean(self._score(self.d_a, fake_a, self.adv.generator))
        cyc = ba.mean(_per_example((self.translate(fake_b, "b2a") - a).abs())) + bb.mean(_per_example((self.translate(fake_a, "a2b") - b).abs()))
        loss = 2 * adv + self.cycle * cyc
        out = {"adv": 2 * adv.detach(), "cycle": cyc.detach()}
        if self.identity > 0:
            idt = bb.mean(_per_example((self.translate(b, "a2b") - b).abs())) + ba.mean(_per_example((self.translate(a, "b2a") - a).abs()))
            loss = loss + self.cycle * self.identity * idt
            out["identity"] = idt.detach()
        self._fakes = (a, b, fake_b.detach(), fake_a.detach())
        return {"loss": loss, **out}

    def critic_loss(self, batch: dict[str, Batch]) -> dict[str, Tensor]:
        ba, bb = batch["a"], batch["b"]
        if self._fakes is not None and self._fakes[0] is ba.x and self._fakes[1] is bb.x:
            fake_b, fake_a = self._fakes[2], self._fakes[3]  # this round's generator step made them from these batches
        else:
            with torch.no_grad():
                fake_b, fake_a = self.translate(ba.x, "a2b"), self.translate(bb.x, "b2a")
        self._fakes = None
        # a fake weighs as the example it was translated from, also after a while in the history
        (fake_b, wb), (fake_a, wa) = self.pool_b.query(fake_b, ba.weight), self.pool_a.query(fake_a, bb.weight)
        loss_b = bb.mean(self._score(self.d_b, bb.x, self.adv.real)) + _weighted(self._score(self.d_b, fake_b, self.adv.fake), wb)
        loss_a = ba.mean(self._score(self.d_a, ba.x, self.adv.real)) + _weighted(self._score(self.d_a, fake_a, self.adv.fake), wa)
        return {"loss": loss_a + loss_b, "d_a": loss_a.detach(), "d_b": loss_b.detach()}

    def _schedule(self, step: int, rounds: int) -> float:
        """Constant for ``decay_start`` of the rounds, then linear to 0 (Zhu et al. §4, 100 + 100 epochs)."""
        hold = int(self.decay_start * rounds)
        return 1.0 if step < hold else max(0.0, 1.0 - (step - hold) / max(1, rounds - hold))

    def players(self) -> list[Player]:
        gens = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        critics = [*self.d_a.parameters(), *self.d_b.parameters()]
        return [Player("generators", gens, self.generator_loss, optim=dict(self.optim), stream=("a", "b")),
                Player("critics", critics, self.critic_loss, optim=dict(self.optim), stream=("a", "b"))]

    def stages(self) -> list[Stage]:
        return [Stage(self.players(), schedule=self._schedule if self.decay_start < 1 else None)]


@MODELS.register("cyclegan", help="CycleGAN (Zhu et al. 2017): unpaired translation a <-> b on --data A+B; translate(x, 'a2b')",
                 data_kinds=("image",), streams=("a", "b"),
                 tiny_fit={"model": {"generator": {"width": 8, "n_blocks": 1}, "critic": {"width": 8}}, "steps": 60,
                           "batch_size": 32, "lr": 1e-3, "log_every": 10})
def cyclegan(info: DataInfo, generator: Spec = net("resnet_generator", resnet_generator={"width": 16, "n_blocks": 3},
                                                  help="G and F: image -> image (a ResNet sized for 28 x 28)"),
             critic: Spec = net("patch_critic", patch_critic={"width": 32}, help="D_a and D_b: image -> patch scores"),
             cycle: Weight = 10.0, identity: Weight = 0.5, history: Annotated[int, Range(0, 10_000)] = 50,
             decay_start: Annotated[float, Range(0, 1)] = 0.5) -> CycleGAN:
    """CycleGAN with ResNet generators and PatchGAN critics sized for small images (28 x 28).

    Args:
        generator: both generators' network (``--set model.generator.n_blocks=6``).
        critic: both critics' network.
        cycle, identity, history, decay_start: see :class:`CycleGAN`.
    """
    _check_images(info, "CycleGAN")
    shape = tuple(info.shape)
    gens = [generator.build(in_shape=shape, out_shape=shape) for _ in range(2)]
    critics = [critic.build(in_shape=shape, out_shape=(1,)) for _ in range(2)]
    return CycleGAN(info, *gens, *critics, cycle=cycle, identity=identity, history=history, decay_start=decay_start)


# -- domain adaptation ---------------------------------------------------------------------------


class Adaptation(GenerativeModel):
    """Shared by the adaptation models: an encoder and a classifier; ``predict`` gives target logits."""

    encoder: nn.Module
    classifier: nn.Module

    def target_encoder_net(self) -> nn.Module:
        """The encoder applied to target examples (ADDA: its own; the others: the shared one)."""
        return self.encoder

    def predict(self, x: Tensor, c: Tensor | None = None, domain: str = TARGET) -> Tensor:
        """Class logits ``(B, K)`` of examples ``x`` of ``domain`` (``"b"``: target, ``"a"``: source)."""
        return self.classifier(self.features(x, domain))

    def features(self, x: Tensor, domain: str = TARGET) -> Tensor:
        """Encoder features ``(B, D)`` of ``x``; the target encoder for domain ``"b"``."""
        if domain not in (SOURCE, TARGET):
            raise GenzooError(f"domain must be '{SOURCE}' (source) or '{TARGET}' (target), got '{domain}'")
        return (self.target_encoder_net() if domain == TARGET else self.encoder)(x)

    def _classify(self, batch: Batch, features: Tensor) -> dict[str, Tensor]:
        """Cross-entropy of the classifier on labelled ``features (B, D)`` of ``batch``."""
        if batch.c is None:
            raise GenzooError(f"{type(self).__name__} needs labelled source data; {self.info.name}'s first dataset has no labels")
        logits = self.classifier(features)
        loss = batch.mean(F.cross_entropy(logits, batch.c, reduction="none"))
        return {"loss": loss, "acc": (logits.argmax(1) == batch.c).float().mean().detach()}


ENCODER = net("lenet", help="M: image -> features (ADDA's LeNet; any image -> vector network fits)")
CRITIC = net("mlp", mlp={"hidden": (500, 500), "act": "relu"}, help="domain critic: features -> one logit (source = 1)")


def _classifier_nets(info: DataInfo, encoder: Spec, features: int) -> tuple[nn.Module, nn.Module]:
    """An encoder ``data -> (features,)`` and a linear classifier ``features -> classes``."""
    if info.num_classes < 2:
        raise GenzooError(f"domain adaptation needs class labels, but {info.name} has none; pair two labelled datasets")
    return encoder.build(in_shape=tuple(info.shape), out_shape=(features,)), nn.Linear(features, info.num_classes)


class SourceOnly(Adaptation):
    """Encoder + classifier trained on the labelled source stream only (the no-adaptation baseline)."""

    def __init__(self, info: DataInfo, encoder: nn.Module, classifier: nn.Module, optim: dict[str, Any]) -> None:
        super().__init__()
        self.info, self.encoder, self.classifier, self.optim = info, encoder, classifier, optim

    def players(self) -> list[Player]:
        return [Player("classifier", list(self.parameters()), lambda b: self._classify(b, self.encoder(b.x)), optim=dict(self.optim), stream=SOURCE)]


@MODELS.register("source_only", help="source-only baseline on --data SOURCE+TARGET: LeNet trained on the source, tested on the target",
                 data_kinds=("image",), streams=("a",), tiny_fit={"steps": 100, "batch_size": 32, "log_every": 20})
def source_only(info: DataInfo, encoder: Spec = ENCODER, features: Size = 500, lr: LR = 1e-3) -> SourceOnly:
    """Encoder + linear classifier on the source stream; Adam ``lr`` (ADDA's source training).

    Args:
        encoder: the feature network; ``features``: its output width.
    """
    return SourceOnly(info, *_classifier_nets(info, encoder, features), {"name": "adam", "lr": lr})


class ADDA(Adaptation):
    """Adversarial discriminative domain adaptation (see the module notes).

    Args:
        info: the pair's metadata.
        encoder: the source encoder M_s; ``target``: the target encoder M_t (same architecture).
        classifier: features -> class logits.
        critic: features -> one domain logit (source = 1).
        source_steps: rounds of the ``source`` stage; the ``adapt`` stage takes the rest.
        source_optim, adapt_optim: optimizer settings of the two stages.
        align: what the critic compares: ``"logits"``, the fixed classifier's outputs C(M(x)) (the
            authors' code puts the critic on the LeNet's last, 10-way layer), or ``"features"``,
            the encoder's outputs M(x).
    """

    def __init__(self, info: DataInfo, encoder: nn.Module, target: nn.Module, classifier: nn.Module, critic: nn.Module,
                 source_steps: int, source_optim: dict[str, Any], adapt_optim: dict[str, Any], align: str = "logits") -> None:
        super().__init__()
        if align not in ("logits", "features"):
            raise GenzooError(f"ADDA aligns 'logits' or 'features', not '{align}'")
        self.info, self.encoder, self.target, self.classifier, self.critic = info, encoder, target, classifier, critic
        self.source_steps, self.source_optim, self.adapt_optim, self.align = source_steps, source_optim, adapt_optim, align

    def _critic_input(self, features: Tensor) -> Tensor:
        """What the critic sees of features ``(B, D)``: the class logits ``(B, K)`` or the features themselves.
        Only M_t trains in stage 2; C passes the gradient on unchanged (its weights are not the player's)."""
        return self.classifier(features) if self.align == "logits" else features

    def target_encoder_net(self) -> nn.Module:
        return self.target

    def start_adaptation(self, model: GenerativeModel) -> None:
        """Stage 2 begins: M_t starts as a copy of the trained M_s (ADDA §4: untied weights, shared start)."""
        with torch.no_grad():
            self.target.load_state_dict(self.encoder.state_dict())

    def critic_loss(self, batch: dict[str, Batch]) -> dict[str, Tensor]:
        bs, bt = batch[SOURCE], batch[TARGET]
        with torch.no_grad():
            fs, ft = self._critic_input(self.encoder(bs.x)), self._critic_input(self.target(bt.x))
        ds, dt = self.critic(fs).squeeze(1), self.critic(ft).squeeze(1)  # (B,) domain logits, source = 1
        loss = 0.5 * (bs.mean(F.softplus(-ds)) + bt.mean(F.softplus(dt)))
        acc = 0.5 * ((ds > 0).float().mean() + (dt < 0).float().mean())
        return {"loss": loss, "d_acc": acc.detach()}

    def mapping_loss(self, batch: Batch) -> dict[str, Tensor]:
        """The inverted-label GAN loss: M_t's features should be taken for source features."""
        return {"loss": batch.mean(F.softplus(-self.critic(self._critic_input(self.target(batch.x))).squeeze(1)))}

    def stages(self) -> list[Stage]:
        source = Player("classifier", [*self.encoder.parameters(), *self.classifier.parameters()],
                        lambda b: self._classify(b, self.encoder(b.x)), optim=dict(self.source_optim), stream=SOURCE)
        critic = Player("critic", list(self.critic.parameters()), self.critic_loss, optim=dict(self.adapt_optim), stream=(SOURCE, TARGET))
        mapping = Player("target_encoder", list(self.target.parameters()), self.mapping_loss, optim=dict(self.adapt_optim), stream=TARGET)
        return [Stage([source], self.source_steps, "source"), Stage([critic, mapping], None, "adapt", on_start=self.start_adaptation)]

    def players(self) -> list[Player]:
        return [p for s in self.stages() for p in s.players]


@MODELS.register("adda", help="ADDA (Tzeng et al. 2017) on --data SOURCE+TARGET: source classifier, then target encoder vs domain critic",
                 data_kinds=("image",), streams=("a", "b"), tiny_fit={"model": {"source_steps": 100}, "steps": 150, "batch_size": 32, "log_every": 25})
def adda(info: DataInfo, encoder: Spec = ENCODER, features: Size = 500, critic: Spec = CRITIC,
         source_steps: Annotated[int, Range(1, 10**9)] = 10_000, source_lr: LR = 1e-3, adapt_lr: LR = 2e-4,
         align: Literal["logits", "features"] = "logits") -> ADDA:
    """ADDA with LeNet encoders and a 500-500 ReLU critic (the paper's digit setting).

    Args:
        encoder: the source and target encoders' network; ``features``: its output width (500).
        critic: the domain critic.
        source_steps: rounds of stage 1 (10,000 in the authors' scripts; stage 2 took 10,000 more).
        source_lr: Adam learning rate of stage 1; ``adapt_lr``: Adam (β₁ = 0.5) of stage 2.
        align: the critic reads the classifier's ``logits`` (the authors' code) or the encoder's ``features``.
    """
    source, classifier = _classifier_nets(info, encoder, features)
    target = encoder.build(in_shape=tuple(info.shape), out_shape=(features,))
    width = info.num_classes if align == "logits" else features
    return ADDA(info, source, target, classifier, critic.build(in_shape=(width,), out_shape=(1,)), source_steps,
                {"name": "adam", "lr": source_lr}, {"name": "adam", "lr": adapt_lr, "betas": (0.5, 0.999)}, align)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-scale`` backward (DANN's GRL)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.scale * grad, None


def reverse_gradient(x: Tensor, scale: float = 1.0) -> Tensor:
    """Gradient reversal: ``x`` forward, ``-scale * grad`` backward (Ganin et al. 2016, §3.2)."""
    return _ReverseGradient.apply(x, scale)


class DANN(Adaptation):
    """Domain-adversarial training (Ganin et al. 2016): one player, one stage.

    The loss is the source cross-entropy plus the domain classifier's cross-entropy on source and
    target features seen through a gradient-reversal layer of weight λ_p = 2 / (1 + e^{-10 p}) - 1,
    p the share of ``ramp_steps`` done (Ganin et al. §5.2.2), so the domain term's gradient pushes
    the encoder towards features the domain classifier cannot separate. The learning rate anneals
    as μ₀ / (1 + 10 p)^{0.75} over the stage.
    """

    def __init__(self, info: DataInfo, encoder: nn.Module, classifier: nn.Module, domain: nn.Module, ramp_steps: int,
                 optim: dict[str, Any]) -> None:
        super().__init__()
        self.info, self.encoder, self.classifier, self.domain = info, encoder, classifier, domain
        self.ramp_steps, self.optim = ramp_steps, optim
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def grl_weight(self) -> float:
        p = min(1.0, int(self.updates) / max(1, self.ramp_steps))
        return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0

    def loss(self, batch: dict[str, Batch]) -> dict[str, Tensor]:
        bs, bt = batch[SOURCE], batch[TARGET]
        fs, ft = self.encoder(bs.x), self.encoder(bt.x)  # (B, D)
        out = self._classify(bs, fs)
        lam = self.grl_weight()
        ds = self.domain(reverse_gradient(fs, lam)).squeeze(1)  # (B,) domain logits, source = 1
        dt = self.domain(reverse_gradient(ft, lam)).squeeze(1)
        dom = 0.5 * (bs.mean(F.softplus(-ds)) + bt.mean(F.softplus(dt)))
        return {"loss": out["loss"] + dom, "class": out["loss"].detach(), "domain": dom.detach(), "acc": out["acc"]}

    def _tick(self) -> None:
        self.updates += 1

    def stages(self) -> list[Stage]:
        player = Player("model", list(self.parameters()), self.loss, after_step=self._tick, optim=dict(self.optim), stream=(SOURCE, TARGET))
        return [Stage([player], schedule=lambda s, n: (1.0 + 10.0 * s / n) ** -0.75)]

    def players(self) -> list[Player]:
        return self.stages()[0].players


@MODELS.register("dann", help="DANN (Ganin et al. 2016) on --data SOURCE+TARGET: gradient reversal against a domain classifier",
                 data_kinds=("image",), streams=("a", "b"), tiny_fit={"model": {"ramp_steps": 100}, "steps": 100, "batch_size": 32, "lr": 0.01, "log_every": 20})
def dann(info: DataInfo, encoder: Spec = ENCODER, features: Size = 500,
         domain: Spec = net("mlp", mlp={"hidden": (500, 500), "act": "relu"}, help="domain classifier: features -> one logit"),
         ramp_steps: Annotated[int, Range(1, 10**9)] = 10_000, lr: LR = 0.01, momentum: Annotated[float, Range(0, 1, hi_open=True)] = 0.9) -> DANN:
    """DANN with the LeNet encoder of the other adaptation models and a 500-500 domain classifier.

    Args:
        encoder: the feature network; ``features``: its output width.
        domain: the domain classifier behind the gradient reversal.
        ramp_steps: updates over which λ rises from 0 to ~1 (set it to the run's length, as p is
            training progress in the paper).
        lr, momentum: SGD settings (0.01, 0.9 in the paper), annealed over the stage.
    """
    enc, classifier = _classifier_nets(info, encoder, features)
    return DANN(info, enc, classifier, domain.build(in_shape=(features,), out_shape=(1,)), ramp_steps,
                {"name": "sgd", "lr": lr, "momentum": momentum})
