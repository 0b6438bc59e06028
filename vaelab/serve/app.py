"""The latent explorer's web app: `create_app(run_dir)` -> a FastAPI application over one run.

Routes turn requests into calls on the `Explorer` (vaelab.serve.explorer) and its results into
JSON and PNG. One handler maps domain errors to statuses: a missing example 404, content over a
limit 413, any other refused value 422; every refusal is JSON `{"detail": message}`, one line that
quotes at most an excerpt of the request. Anything else that goes wrong is a bug, answered as a
JSON 500 that names the exception's type only (the traceback goes to the server's log).

Safety, for a server that may be reachable from a browser: no file-system path is ever taken
from a request (the page's few files are read into memory at startup and looked up by name),
request bodies are capped, uploads are decoded by the same allow-listed Pillow decoders as image
folders with a pixel limit checked on the header before any decoding, and latent values must be
finite and bounded. Who may send requests (the Host header, an access token) is vaelab.serve.access.
"""
from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Annotated

import torch
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import VaelabError, excerpt
from .access import Access
from .explorer import (MAX_ALPHA, MAX_SAMPLES, MAX_STEPS, MAX_TEMPERATURE, MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS,
                       Explorer, NotFound, TooLarge, data_url, floats, png)
from .schemas import (MAX_LABEL, AttributeInfo, AttributeOut, AttributeRequest, DecodeRequest, Dimension,
                      EncodeOut, ExampleOut, ImageOut, Info, InterpolateOut, InterpolateRequest, MapOut, SampleOut,
                      SampleRequest, bound_to_run)

MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # an upload plus its multipart headers; JSON bodies are far smaller
STATIC = Path(__file__).parent / "static"
PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
DOCS_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
              "favicon-32x32.png": "image/png"}
# The page may talk to this server only: the browser itself then blocks any request elsewhere.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
STATUS = ((NotFound, 404), (TooLarge, 413), (VaelabError, 422))  # the first class that matches decides
MAX_ERRORS_SHOWN = 3  # of a request's validation errors (a list of 65,536 bad numbers has as many)


def create_app(run_dir: str | Path, *, max_examples: int = 10_000, allowed_hosts: list[str] | None = None,
               data: str | None = None, token: str | None = None) -> FastAPI:
    """The explorer for one run folder (its test examples, or those of `data`, a spec). Raises a
    VaelabError for a missing run or one that is not images.

    allowed_hosts: Host headers to accept (None: any): names, `*.suffix` or networks such as
    127.0.0.0/8; `vaelab serve` gives access.allowed_hosts(--host), so that a web page elsewhere
    cannot reach the server by DNS rebinding. token: when given, every request must carry it."""
    ex = Explorer(run_dir, max_examples, data)
    app = FastAPI(title=f"vaelab explorer: {ex.run_name}", version="1",
                  description="Decode, encode, sample and interpolate in the latent space of one vaelab run. "
                              "Latent codes are lists of latent_dim numbers (see /api/info); images are PNG.",
                  docs_url=None, redoc_url=None)  # the default pages load Swagger UI from a CDN: ours is local
    app.state.explorer = ex
    app.add_middleware(_BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(Access, hosts=allowed_hosts, token=token)  # added last: the outermost, checked first
    _add_error_handlers(app)
    _add_page(app)
    _add_run_routes(app, ex)
    _add_code_routes(app, ex)
    _add_path_routes(app, ex)
    refusals = {400: "a malformed body, or a Host header this server does not answer to",
                413: "the request body is too large"}
    if token is not None:
        refusals[403] = "no access token, or a wrong one"
    bound_to_run(app.openapi(), ex, refusals)  # FastAPI keeps the schema
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VaelabError)
    async def _refused(request, exc: VaelabError):  # the explorer's and the model's checks: the caller's input
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):  # one readable line instead of FastAPI's list
        errors = exc.errors()
        parts = [_one_error(error) for error in errors[:MAX_ERRORS_SHOWN]]
        if len(errors) > MAX_ERRORS_SHOWN:
            parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)  # the base class: routing's 404 and 405 raise it
    async def _http(request, exc: StarletteHTTPException):  # FastAPI's own (404, 405) and ours, as one short line
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse({"detail": " ".join(detail.split())[:200]}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):  # a bug, not the caller's input: no traceback to the client
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server's log has the details"},
                            status_code=500)


def _one_error(error: dict) -> str:
    """One of pydantic's errors as `where: what (got an excerpt of the value)`."""
    if error.get("type") == "json_invalid":  # its loc is a character's position, ctx the parser's message
        return f"JSON decode error at character {error['loc'][-1]}: {error.get('ctx', {}).get('error', '')}"
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")[:60]
    text = f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid")
    if error.get("type") != "missing" and "input" in error:  # a missing field has no value to show
        text += f" (got {excerpt(error['input'])})"
    return text


def _add_page(app: FastAPI) -> None:
    """The page and the API docs, from files read once: a request names a file, never a path."""
    page = (STATIC / "index.html").read_bytes()
    page_files = {name: ((STATIC / name).read_bytes(), kind) for name, kind in PAGE_FILES.items()}
    docs_files = _docs_files()
    page_headers = {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff",
                    "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def index():
        return HTMLResponse(page, headers=page_headers)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in page_files:  # a name looked up in a dict, never a path
            raise HTTPException(404, f"no file {excerpt(name)}")
        content, kind = page_files[name]
        return Response(content, media_type=kind, headers=page_headers)

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title,
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no badge from the internet

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str):
        if name not in docs_files:
            raise HTTPException(404, f"no file {excerpt(name)}")
        content, kind = docs_files[name]
        return Response(content, media_type=kind, headers={"Cache-Control": "max-age=86400"})


def _info(ex: Explorer) -> Info:
    model = ex.model
    return Info(
        run=ex.run_name, data=model.config.data.name, shape=list(model.shape), latent_dim=model.latent_dim,
        stochastic=model.stochastic, conditional=model.conditional, classes=model.num_classes,
        labelled=ex.y is not None, examples=len(ex.x),
        dimensions=[Dimension(dim=d, kl=None if math.isnan(float(ex.stats["kl"][d])) else float(ex.stats["kl"][d]),
                              variance=float(ex.stats["mu_variance"][d]), active=bool(ex.stats["active"][d]),
                              span=ex.spans[d]) for d in ex.order],
        z_limit=ex.z_limit,
        attributes=[AttributeInfo(name=name, norm=float(a["vector"].norm()), with_=a["with"], without=a["without"])
                    for name, a in ex.attributes.items()],
        limits={"upload_bytes": MAX_UPLOAD_BYTES, "upload_pixels": MAX_UPLOAD_PIXELS, "steps": MAX_STEPS,
                "samples": MAX_SAMPLES, "temperature": MAX_TEMPERATURE, "alpha": MAX_ALPHA})


def _add_run_routes(app: FastAPI, ex: Explorer) -> None:
    model = ex.model
    # Both answers are fixed: serialised once, sent as they are (no validation per request).
    info_json = JSONResponse(_info(ex).model_dump(by_alias=True)).body
    the_map = MapOut(method=ex.map_method, axes=list(ex.map_axes),
                     points=[[round(float(a), 5), round(float(b), 5)] for a, b in ex.points],
                     labels=ex.y.tolist() if ex.y is not None else None)
    map_json = JSONResponse(the_map.model_dump()).body

    @app.get("/api/info", response_model=Info, tags=["run"])
    def get_info():
        """The run: its shape, latent size, dimensions sorted by KL, attributes and the API's limits."""
        return Response(info_json, media_type="application/json")

    @app.get("/api/map", response_model=MapOut, tags=["run"])
    def get_map():
        """The test examples' posterior means in 2-D: the codes themselves for a 2-D latent, else PCA."""
        return Response(map_json, media_type="application/json")

    @app.get("/api/examples/{index}", response_model=ExampleOut, tags=["run"],
             responses={404: {"description": "no such test example"}})
    def get_example(index: int):
        """A test example: its image, label, posterior mean and log-variance, and its reconstruction."""
        i = ex.example(index)
        y = ex.labels(int(ex.y[i]), 1) if (ex.y is not None and model.conditional) else None
        return ExampleOut(index=i, label=int(ex.y[i]) if ex.y is not None else None, mu=ex.mu[i].double().tolist(),
                          logvar=floats(ex.logvar[i]), image=data_url(ex.x[i]),
                          reconstruction=data_url(model.decode(ex.mu[i:i + 1], y)[0]))


def _add_code_routes(app: FastAPI, ex: Explorer) -> None:
    model = ex.model

    @app.post("/api/decode", tags=["latent"], response_model=ImageOut,
              responses={200: {"content": {"image/png": {}}, "description": "PNG (format png) or JSON (base64)"},
                         422: {"description": "a code of the wrong length, or non-finite or out-of-range values"}})
    async def decode(request: DecodeRequest):  # async: one small decoder pass runs inline, see below
        """Decode one latent code into an image: the mean of p(x|z) (pixel probabilities for Bernoulli pixels)."""
        # The sliders' endpoint runs on the event loop instead of the thread pool: one small decoder
        # pass costs less than handing it to a thread under load (bench.serve_latency measures it;
        # docs/design-notes.md). The slower endpoints keep the pool.
        z = ex.latent(request.z)
        image = model.decode(z[None], ex.labels(request.label))[0]
        if request.format == "base64":
            return JSONResponse({"image": data_url(image)})
        return Response(png(image), media_type="image/png")

    @app.post("/api/encode", response_model=EncodeOut, tags=["latent"],
              responses={413: {"description": "upload too large (bytes or pixels)"},
                         422: {"description": "not a readable image"}})
    def encode(file: Annotated[UploadFile, File(description=f"a PNG, JPEG, BMP, GIF or WebP image, at most "
                                                         f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB")],
               label: Annotated[int | None, Form(ge=0, le=MAX_LABEL, description="the class, for conditional runs")]
               = None):
        """Encode an uploaded image (converted to the run's channels and size): posterior mean and log-variance."""
        content = file.file.read(MAX_UPLOAD_BYTES + 1)
        x = ex.read_upload(content, file.filename or "upload")
        y = ex.labels(label)
        mu, logvar = model.encode(x[None], y)
        return EncodeOut(mu=mu[0].double().tolist(), logvar=floats(logvar[0]), image=data_url(x),
                         reconstruction=data_url(model.decode(mu, y)[0]))


def _add_path_routes(app: FastAPI, ex: Explorer) -> None:
    model = ex.model

    @app.post("/api/sample", response_model=SampleOut, tags=["latent"])
    def sample(request: SampleRequest):
        """Draw codes from the prior N(0, temperature^2 I) and decode them (the same draws as model.sample)."""
        seed = request.seed if request.seed is not None else secrets.randbelow(2**63)
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn((request.n, model.latent_dim), generator=generator) * request.temperature
        images = model.decode(z, ex.labels(request.label, request.n))
        return SampleOut(seed=seed, z=z.double().tolist(), images=[data_url(im) for im in images])

    @app.post("/api/interpolate", response_model=InterpolateOut, tags=["latent"],
              responses={404: {"description": "no such test example"}})
    def interpolate(request: InterpolateRequest):
        """Decode the straight (or spherical) path between two codes or test examples' posterior means."""
        from ..latent.paths import lerp, slerp, step_distances

        ends = []
        for name, end in (("from", request.start), ("to", request.end)):
            ends.append(ex.mu[ex.example(end.index)] if end.index is not None else ex.latent(end.z, f"{name}.z"))
        z = (slerp if request.spherical else lerp)(ends[0], ends[1], request.steps)
        frames = model.decode(z, ex.labels(request.label, request.steps))
        return InterpolateOut(z=z.double().tolist(), images=[data_url(f) for f in frames],
                              step_distances=step_distances(frames).double().tolist())

    @app.post("/api/attribute", response_model=AttributeOut, tags=["latent"])
    def attribute(request: AttributeRequest):
        """Decode z + alpha v, where v = mean(z | with the attribute) - mean(z | without) over training codes."""
        from ..latent.attributes import apply_vector

        v = ex.attribute(request.attribute)
        z = ex.latent(request.z)
        image = apply_vector(model, z[None], v, [request.alpha], ex.labels(request.label))[0, 0]
        return AttributeOut(z=(z + request.alpha * v).double().tolist(), image=data_url(image))


def _docs_files() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's script, style and icon from the swagger-ui-bundle wheel, so /docs needs no CDN."""
    from swagger_ui_bundle import swagger_ui_path

    return {name: ((Path(swagger_ui_path) / name).read_bytes(), kind) for name, kind in DOCS_FILES.items()}


# --- request size ------------------------------------------------------------------------------------------
class _TooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit} bytes")


class _BodyLimit:
    """Refuses request bodies over max_bytes (413): by Content-Length up front, else while they stream in.

    The streamed case raises an HTTPException from inside the body read, which FastAPI passes on
    to its handler (a JSON 413) instead of reading on."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = JSONResponse({"detail": _TooLarge(self.max_bytes).detail}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)
