"""Encoder and decoder networks, registered by architecture name."""
from . import conv, gru, mlp  # noqa: F401  (registers the architectures)
