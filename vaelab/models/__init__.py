from .vae import MAX_PARAMETERS, VAE, build_network

__all__ = ["MAX_PARAMETERS", "VAE", "build_network"]
