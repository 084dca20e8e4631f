"""Networks only — no objectives. Every model takes its networks as plain ``nn.Module``s."""

from .mlp import MLP, activation

__all__ = ["MLP", "activation"]
