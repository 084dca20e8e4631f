"""Networks only — no objectives. Every model takes its networks as plain ``nn.Module``s.

Importing this package registers every network of :data:`~genzoo.registry.NETS` (``mlp``,
``conv``, ``resnet_generator``, ``patch_critic``, ``lenet``; ``lstm``, ``gru_encoder``, ``gru_decoder`` for token
sequences; the time-conditioned ``unet``, ``unet_encoder``, ``time_mlp`` of diffusion) and flow of :data:`FLOWS`
(``coupling``, ``multiscale``).
"""

from .base import HasFeatures, append_condition, auto_net, condition_shape, net, one_hot
from .conv import DCGANDiscriminator, DCGANGenerator
from .coupling import FLOWS, CouplingFlow, MultiScaleFlow
from .image2image import LeNetEncoder, PatchCritic, ResnetGenerator
from .mlp import MLP, activation
from .sequence import Autoregressive, GRUDecoder, GRUEncoder, LSTMNet
from .unet import ConditionEmbedding, TimeMLP, UNet, UNetEncoder

__all__ = ["FLOWS", "MLP", "Autoregressive", "ConditionEmbedding", "CouplingFlow", "DCGANDiscriminator", "DCGANGenerator",
           "GRUDecoder", "GRUEncoder", "HasFeatures", "LSTMNet", "LeNetEncoder", "MultiScaleFlow", "PatchCritic",
           "ResnetGenerator", "TimeMLP", "UNet", "UNetEncoder", "activation",
           "append_condition", "auto_net", "condition_shape", "net", "one_hot"]
