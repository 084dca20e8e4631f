"""The version of genzoo, in one place (read by the package metadata, run configs and evaluations)."""

__version__ = "0.1.0"
