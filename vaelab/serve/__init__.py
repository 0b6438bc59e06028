"""The latent explorer: a local web page and JSON API over one run folder (`vaelab serve RUN`).

    from vaelab.serve import create_app
    app = create_app("runs/demo")     # a FastAPI app; serve it with uvicorn

Everything the page shows comes from the functions of `vaelab.latent`; this package only turns
HTTP requests into their arguments and their results into JSON and PNG.
"""
from .app import create_app

__all__ = ["create_app"]
