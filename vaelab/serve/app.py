"""The latent explorer's web app: `create_app(run_dir)` -> a FastAPI application over one run.

Everything slow happens once, when the app is created (`Explorer`): loading the model and its
data, the posterior means of the test examples, their 2-D map, the dimensions sorted by KL and
the attribute vectors. A request then costs one decoder (or encoder) pass and a small PNG.

The numbers come from `vaelab.latent` (encode_all, latent_statistics, dimension_order,
project_2d, measure / quartile_masks / attribute_vector / apply_vector, lerp / slerp,
step_distances) and the images from `vaelab.viz.grid`, so the page shows what the commands print.

Safety, for a server that may be reachable from a browser: no file-system path is ever taken
from a request (the page's few files are read into memory at startup and looked up by name),
request bodies are capped, uploads are decoded by the same allow-listed Pillow decoders as image
folders with a pixel limit checked on the header before any decoding, latent values must be
finite and bounded, and every refusal is JSON `{"detail": message}` with a 4xx status.
"""
from __future__ import annotations

import base64
import io
import math
import secrets
from pathlib import Path
from typing import Annotated, Literal

import torch
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from ..errors import InputError, VaelabError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096  # a 12-megapixel photo passes; a decompression bomb is refused from its header
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # an upload plus its multipart headers; JSON bodies are far smaller
MAX_LATENT_VALUES = 65_536  # refused by the parser before any work (the run's own size is checked after)
MAX_STEPS, MAX_SAMPLES, MAX_TEMPERATURE, MAX_ALPHA = 64, 64, 5.0, 10.0
ATTRIBUTE_EXAMPLES = 10_000  # training codes behind each attribute vector, as `vaelab attribute` uses
STATISTICS_EXAMPLES = 2_000  # examples behind the KL per dimension, as `vaelab traverse` uses
SLIDER_SPAN = 3.0  # a VAE's sliders run over +-3 prior standard deviations (wider where codes lie further out)

STATIC = Path(__file__).parent / "static"
PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
DOCS_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
              "favicon-32x32.png": "image/png"}
# The page may talk to this server only: the browser itself then blocks any request elsewhere.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


# --- the run, computed once ---------------------------------------------------------------------------
def refuse_non_images(model, run_dir) -> None:
    """The page draws examples as pictures: molecules (token sequences) and table rows are refused."""
    if model.config.sequence:
        raise VaelabError(f"{run_dir} is a sequence (molecule) model; the explorer draws images "
                          f"(use vaelab mol sample / interpolate for molecules)")
    shape = tuple(model.shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise VaelabError(f"{run_dir}: this run's examples have shape {shape}, which is not an image "
                          f"(the explorer needs greyscale or RGB images)")


class Explorer:
    """The model of one run and everything about its latent space that the page shows."""

    def __init__(self, run_dir: str | Path, max_examples: int = 10_000):
        from ..cli_common import load_run
        from ..data import load_splits
        from ..latent.maps import project_2d
        from ..latent.search import encode_all
        from ..latent.traverse import dimension_order, latent_statistics

        if max_examples < 1:
            raise VaelabError(f"the explorer needs at least 1 test example, got {max_examples}")
        self.run_name = Path(run_dir).name
        self.model = model = load_run(run_dir)
        refuse_non_images(model, run_dir)
        data = load_splits(model.run_config.data)
        x, y = data.split("test")
        if len(x) == 0:
            raise VaelabError(f"{run_dir}: its data has no test examples to explore")
        self.x = x[:max_examples]
        self.y = y[:max_examples] if y is not None else None
        self.mu, self.logvar = encode_all(model, self.x, self.y)  # labels reach conditional models only
        n = STATISTICS_EXAMPLES
        stats = latent_statistics(model, self.x[:n], self.y[:n] if self.y is not None else None)
        self.order = dimension_order(stats)
        self.stats = stats
        largest = float(self.mu.abs().max())
        # Codes of real examples must fit on a slider; the API bound leaves ample room beyond them.
        self.spans = [max(SLIDER_SPAN, math.ceil(float(self.mu[:, d].abs().max()))) for d in range(model.latent_dim)]
        self.z_limit = max(100.0, 10 * largest)
        self.points, self.map_method, self.map_axes = project_2d(self.mu.numpy())
        self.attributes = self._attribute_vectors(data, encode_all)

    def _attribute_vectors(self, data, encode_all) -> dict[str, dict]:
        """name -> {"vector", "with", "without"}: ink (measured) for any images, label:C for labelled data.

        Not label:C for a conditional run: there the label is an input of the decoder, which the
        page sets with its class selector."""
        from ..latent.attributes import PROPERTIES, attribute_vector, measure, quartile_masks

        x, y = data.split("train")
        x, y = x[:ATTRIBUTE_EXAMPLES], (y[:ATTRIBUTE_EXAMPLES] if y is not None else None)
        if len(x) == 0:
            return {}
        mu, _ = encode_all(self.model, x, y)
        masks = {name: quartile_masks(measure(name, x)) for name in PROPERTIES}
        if y is not None and not self.model.conditional:
            masks.update({f"label:{c}": (y == c, y != c) for c in torch.unique(y).tolist()})
        vectors = {}
        for name, (with_it, without_it) in masks.items():
            try:
                v = attribute_vector(mu, with_it, without_it)
            except InputError:  # one class only, or a constant property: no vector to offer
                continue
            vectors[name] = {"vector": v, "with": int(with_it.sum()), "without": int(without_it.sum())}
        return vectors

    # --- checks on request values -------------------------------------------------------------------
    def latent(self, values: list[float], what: str = "z") -> Tensor:
        """A request's code as a (L,) tensor: the run's length, every value finite and within +-z_limit."""
        n = self.model.latent_dim
        if len(values) != n:
            raise HTTPException(422, f"{what} has {len(values)} values; this run's latent has {n} dimensions")
        for i, v in enumerate(values):  # plain Python: for a few dozen values, cheaper than tensor checks
            if not math.isfinite(v):
                raise HTTPException(422, f"{what}[{i}] is {v}, not a finite number")
            if abs(v) > self.z_limit:
                raise HTTPException(422, f"{what}[{i}] = {v:g} is outside [-{self.z_limit:g}, {self.z_limit:g}]")
        return torch.tensor(values, dtype=torch.float32)

    def example(self, index: int) -> int:
        if not 0 <= index < len(self.x):
            raise HTTPException(404, f"test example {index} does not exist (0..{len(self.x) - 1})")
        return index

    @staticmethod
    def labels(label: int | None, n: int = 1) -> Tensor | None:
        """The model checks the rest: a label for an unconditional run, none for a conditional one, its range."""
        return None if label is None else torch.full((n,), label, dtype=torch.int64)

    def read_upload(self, content: bytes, filename: str) -> Tensor:
        """Uploaded bytes -> the model's (C, H, W) input in [0, 1]: greyscale or RGB, resized.

        The decoders are those of `--data folder:DIR` (an allow-list of formats, 16-bit grey and
        palettes handled), given the bytes in memory: nothing is written or opened by name."""
        from ..data.folder import decode_image, image_header

        if not content:
            raise HTTPException(422, "the upload is empty")
        if len(content) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the upload has {len(content)} bytes; at most {MAX_UPLOAD_BYTES} are accepted")
        source = _NamedBytes(content, f"upload {filename[:80]!r}")
        _, (width, height) = image_header(source)  # the header only: refuses non-images and bombs before decoding
        if width * height > MAX_UPLOAD_PIXELS:
            raise HTTPException(413, f"the upload is {width}x{height} pixels; at most {MAX_UPLOAD_PIXELS} pixels "
                                     f"are accepted")
        c, h, w = self.model.shape
        pixels = decode_image(source, colour=c == 3, size=(w, h), resize=True)  # (H, W, C) uint8
        return torch.tensor(pixels.transpose(2, 0, 1), dtype=torch.float32).div_(255.0)


class _NamedBytes(io.BytesIO):
    """Bytes in memory that print as a name in the decoders' error messages, which name their source."""

    def __init__(self, content: bytes, name: str):
        super().__init__(content)
        self._name = name

    def __str__(self) -> str:
        return self._name

    __repr__ = __str__  # Pillow's "cannot identify image file %r"


def png(image: Tensor) -> bytes:
    """One (C, H, W) image in [0, 1] -> PNG bytes at its own resolution (the page scales it)."""
    from ..viz.grid import grid_image

    buffer = io.BytesIO()
    grid_image(image[None], nrow=1, pad=0, scale=1).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")


def floats(t: Tensor | None) -> list | None:
    """JSON has no infinities: an autoencoder's log-variance (-inf, a point mass) becomes null."""
    if t is None or not torch.isfinite(t).all():
        return None
    return t.double().tolist()


# --- request and response bodies (they are the OpenAPI page's documentation) ---------------------------
LatentValues = list[float]
_Z = Field(max_length=MAX_LATENT_VALUES, description="a latent code: latent_dim finite numbers (see /api/info)")
_LABEL = Field(None, description="the class, for conditional runs only (0..classes-1)")


class DecodeRequest(BaseModel):
    z: LatentValues = _Z
    label: int | None = _LABEL
    format: Literal["png", "base64"] = Field(
        "png", description="png: the PNG itself; base64: JSON {\"image\": a data:image/png;base64 URL}")


class ImageOut(BaseModel):
    image: str = Field(description="a PNG as a data URL (data:image/png;base64,...)")


class EncodeOut(BaseModel):
    mu: list[float] = Field(description="posterior mean")
    logvar: list[float] | None = Field(description="posterior log-variance (null for an autoencoder)")
    image: str = Field(description="the upload as the model sees it (greyscale or RGB, resized), a data URL")
    reconstruction: str = Field(description="decode(mu), a data URL")


class ExampleOut(EncodeOut):
    index: int
    label: int | None = Field(description="the example's label, where the data has labels")


class SampleRequest(BaseModel):
    n: int = Field(1, ge=1, le=MAX_SAMPLES, description="how many draws")
    temperature: float = Field(1.0, gt=0, le=MAX_TEMPERATURE, allow_inf_nan=False,
                               description="z ~ N(0, temperature^2 I)")
    seed: int | None = Field(None, ge=0, lt=2**63, description="fixes the draws (default: a fresh seed, returned)")
    label: int | None = _LABEL


class SampleOut(BaseModel):
    seed: int
    z: list[list[float]]
    images: list[str] = Field(description="data URLs, one per draw")


class PathEnd(BaseModel):
    index: int | None = Field(None, description="a test example: the path starts or ends at its posterior mean")
    z: LatentValues | None = Field(None, max_length=MAX_LATENT_VALUES, description="or a latent code")

    @model_validator(mode="after")
    def _one(self):
        if (self.index is None) == (self.z is None):
            raise ValueError("give either index or z")
        return self


class InterpolateRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    start: PathEnd = Field(alias="from")
    end: PathEnd = Field(alias="to")
    steps: int = Field(10, ge=2, le=MAX_STEPS, description="decoded frames, both ends included")
    spherical: bool = Field(False, description="slerp instead of a straight line")
    label: int | None = _LABEL


class InterpolateOut(BaseModel):
    z: list[list[float]]
    images: list[str]
    step_distances: list[float] = Field(description="mean absolute pixel difference between neighbouring frames")


class AttributeRequest(BaseModel):
    z: LatentValues = _Z
    attribute: str = Field(description="a name from /api/info's attributes, e.g. ink or label:7")
    alpha: float = Field(ge=-MAX_ALPHA, le=MAX_ALPHA, allow_inf_nan=False, description="decode z + alpha v")
    label: int | None = _LABEL


class AttributeOut(BaseModel):
    z: list[float] = Field(description="z + alpha v")
    image: str


class Dimension(BaseModel):
    dim: int
    kl: float | None = Field(description="mean KL(q(z_d|x) || N(0, 1)) over test examples, nats (null: autoencoder)")
    variance: float = Field(description="variance of the posterior mean over test examples")
    active: bool = Field(description="variance above 0.01 (Burda et al. 2016)")
    span: float = Field(description="the page's slider runs over [-span, span]")


class AttributeInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    name: str
    norm: float = Field(description="|v|")
    with_: int = Field(alias="with", description="training codes with the attribute")
    without: int


class Info(BaseModel):
    run: str
    data: str
    shape: list[int]
    latent_dim: int
    stochastic: bool = Field(description="false for autoencoders (no posterior variance, no KL)")
    conditional: bool
    classes: int = Field(description="classes of a conditional run, else 0")
    labelled: bool = Field(description="whether the test examples have labels")
    examples: int = Field(description="test examples encoded: indices 0..examples-1")
    dimensions: list[Dimension] = Field(description="most informative (highest KL) first")
    z_limit: float = Field(description="latent values beyond +-z_limit are refused")
    attributes: list[AttributeInfo]
    limits: dict[str, int | float]


class MapOut(BaseModel):
    method: str
    axes: list[str]
    points: list[list[float]] = Field(description="one (x, y) per test example, in index order")
    labels: list[int] | None


# --- the app ----------------------------------------------------------------------------------------------
def create_app(run_dir: str | Path, *, max_examples: int = 10_000,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The explorer for one run folder. Raises VaelabError for a missing run or one that is not images.

    allowed_hosts: Host headers to accept (None: any). `vaelab serve` on a loopback address gives
    the loopback names, so that a web page elsewhere cannot reach the server by DNS rebinding."""
    ex = Explorer(run_dir, max_examples)
    model = ex.model
    page = (STATIC / "index.html").read_bytes()
    page_files = {name: ((STATIC / name).read_bytes(), kind) for name, kind in PAGE_FILES.items()}
    docs_files = _docs_files()

    app = FastAPI(title=f"vaelab explorer: {ex.run_name}", version="1",
                  description="Decode, encode, sample and interpolate in the latent space of one vaelab run. "
                              "Latent codes are lists of latent_dim numbers (see /api/info); images are PNG.",
                  docs_url=None, redoc_url=None)  # the default pages load Swagger UI from a CDN: ours is local
    app.state.explorer = ex
    app.add_middleware(_BodyLimit, max_bytes=MAX_BODY_BYTES)
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.exception_handler(VaelabError)
    async def _refused(request, exc: VaelabError):  # the model's own checks (labels, shapes): the caller's input
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):  # one readable line instead of FastAPI's list
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    # --- the page ---------------------------------------------------------------------------------------
    page_headers = {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff",
                    "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def index():
        return HTMLResponse(page, headers=page_headers)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in page_files:  # a name looked up in a dict, never a path
            raise HTTPException(404, f"no file {name!r}")
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
            raise HTTPException(404, f"no file {name!r}")
        content, kind = docs_files[name]
        return Response(content, media_type=kind, headers={"Cache-Control": "max-age=86400"})

    # --- the API ------------------------------------------------------------------------------------------
    info = Info(
        run=ex.run_name, data=model.run_config.data.name, shape=list(model.shape), latent_dim=model.latent_dim,
        stochastic=model.config.stochastic, conditional=model.conditional, classes=model.config.classes,
        labelled=ex.y is not None, examples=len(ex.x),
        dimensions=[Dimension(dim=d, kl=None if math.isnan(float(ex.stats["kl"][d])) else float(ex.stats["kl"][d]),
                              variance=float(ex.stats["mu_variance"][d]), active=bool(ex.stats["active"][d]),
                              span=ex.spans[d]) for d in ex.order],
        z_limit=ex.z_limit,
        attributes=[AttributeInfo(name=name, norm=float(a["vector"].norm()), with_=a["with"], without=a["without"])
                    for name, a in ex.attributes.items()],
        limits={"upload_bytes": MAX_UPLOAD_BYTES, "upload_pixels": MAX_UPLOAD_PIXELS, "steps": MAX_STEPS,
                "samples": MAX_SAMPLES, "temperature": MAX_TEMPERATURE, "alpha": MAX_ALPHA})
    # Both answers are fixed: serialised once, sent as they are (no validation per request).
    info_json = JSONResponse(info.model_dump(by_alias=True)).body
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

    @app.post("/api/decode", tags=["latent"], response_model=ImageOut,
              responses={200: {"content": {"image/png": {}}, "description": "PNG (format png) or JSON (base64)"},
                         422: {"description": "a code of the wrong length, or non-finite or out-of-range values"}})
    async def decode(request: DecodeRequest):  # async: one small decoder pass runs inline, see below
        """Decode one latent code into an image: the mean of p(x|z) (pixel probabilities for Bernoulli pixels)."""
        # The sliders' endpoint runs on the event loop instead of the thread pool: it takes about a
        # millisecond, and handing it to a thread costs more than that in GIL hand-offs under load
        # (bench.serve_latency: p95 26 -> 19 ms with 4 clients). The slower endpoints keep the pool.
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
               label: Annotated[int | None, Form(description="the class, for conditional runs")] = None):
        """Encode an uploaded image (converted to the run's channels and size): posterior mean and log-variance."""
        content = file.file.read(MAX_UPLOAD_BYTES + 1)
        x = ex.read_upload(content, file.filename or "upload")
        y = ex.labels(label)
        mu, logvar = model.encode(x[None], y)
        return EncodeOut(mu=mu[0].double().tolist(), logvar=floats(logvar[0]), image=data_url(x),
                         reconstruction=data_url(model.decode(mu, y)[0]))

    @app.post("/api/sample", response_model=SampleOut, tags=["latent"])
    def sample(request: SampleRequest):
        """Draw codes from the prior N(0, temperature^2 I) and decode them (the same draws as model.sample)."""
        seed = request.seed if request.seed is not None else secrets.randbelow(2**63)
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn((request.n, model.latent_dim), generator=generator) * request.temperature
        images = model.decode(z, ex.labels(request.label, request.n))
        return SampleOut(seed=seed, z=z.double().tolist(), images=[data_url(im) for im in images])

    @app.post("/api/interpolate", response_model=InterpolateOut, tags=["latent"])
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

        if request.attribute not in ex.attributes:
            raise HTTPException(422, f"unknown attribute {request.attribute!r}; this run has: "
                                     f"{', '.join(ex.attributes) or 'none'}")
        z = ex.latent(request.z)
        v = ex.attributes[request.attribute]["vector"]
        image = apply_vector(model, z[None], v, [request.alpha], ex.labels(request.label))[0, 0]
        return AttributeOut(z=(z + request.alpha * v).double().tolist(), image=data_url(image))

    return app


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
