"""The explorer's request and response bodies: their fields and bounds are the OpenAPI page's documentation."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .explorer import MAX_ALPHA, MAX_SAMPLES, MAX_STEPS, MAX_TEMPERATURE

MAX_LATENT_VALUES = 65_536  # refused by the parser before any work (the run's own size is checked after)
LatentValues = list[float]
_Z = Field(max_length=MAX_LATENT_VALUES, description="a latent code: latent_dim finite numbers (see /api/info)")
MAX_LABEL = 2**31 - 1  # any class number a model could have; larger ones are refused here, not in torch
_LABEL = Field(None, description="the class, for conditional runs only (0..classes-1)")


def _whole(value):
    """JSON Schema counts 2.0 as an integer: it is taken as 2 (true and "2" stay refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[int, BeforeValidator(_whole)]
Label = Annotated[int, Field(ge=0, le=MAX_LABEL), BeforeValidator(_whole)]  # bounds first: then in the schema
Seed = Annotated[int, Field(ge=0, le=2**63 - 1), BeforeValidator(_whole)]


class _Request(BaseModel):
    """A JSON body as the schema says: no true for 1, no "1.5" for 1.5 (pydantic's lax mode takes both)."""
    model_config = ConfigDict(strict=True)


class DecodeRequest(_Request):
    z: LatentValues = _Z
    label: Label | None = _LABEL
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


class SampleRequest(_Request):
    n: Whole = Field(1, ge=1, le=MAX_SAMPLES, description="how many draws")
    temperature: float = Field(1.0, gt=0, le=MAX_TEMPERATURE, allow_inf_nan=False,
                               description="z ~ N(0, temperature^2 I)")
    seed: Seed | None = Field(None, description="fixes the draws (default: a fresh seed, returned)")
    label: Label | None = _LABEL


class SampleOut(BaseModel):
    seed: int
    z: list[list[float]]
    images: list[str] = Field(description="data URLs, one per draw")


class PathEnd(_Request):
    index: Whole | None = Field(None, description="a test example: the path starts or ends at its posterior mean")
    z: LatentValues | None = Field(None, max_length=MAX_LATENT_VALUES, description="or a latent code")

    @model_validator(mode="after")
    def _one(self):
        if (self.index is None) == (self.z is None):
            raise ValueError("give either index or z")
        return self


class InterpolateRequest(_Request):
    model_config = ConfigDict(strict=True, populate_by_name=True)
    start: PathEnd = Field(alias="from")
    end: PathEnd = Field(alias="to")
    steps: Whole = Field(10, ge=2, le=MAX_STEPS, description="decoded frames, both ends included")
    spherical: bool = Field(False, description="slerp instead of a straight line")
    label: Label | None = _LABEL


class InterpolateOut(BaseModel):
    z: list[list[float]]
    images: list[str]
    step_distances: list[float] = Field(description="mean absolute pixel difference between neighbouring frames")


class AttributeRequest(_Request):
    z: LatentValues = _Z
    attribute: str = Field(description="a name from /api/info's attributes, e.g. ink or label:7")
    alpha: float = Field(ge=-MAX_ALPHA, le=MAX_ALPHA, allow_inf_nan=False, description="decode z + alpha v")
    label: Label | None = _LABEL


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




# --- the OpenAPI schema of one run ------------------------------------------------------------------
REQUEST_BODIES = ("DecodeRequest", "SampleRequest", "InterpolateRequest", "PathEnd", "AttributeRequest",
                  "Body_encode_api_encode_post")  # the last: FastAPI's name for the upload's form


def bound_to_run(schema: dict, ex, refusals: dict[int, str]) -> None:
    """Narrow the generic request bodies of an OpenAPI schema (in place) to the run of `ex`, an
    Explorer: z has latent_dim values within +-z_limit, label is one of a conditional run's classes
    (and required) or absent, a path's end either a test example's index or a code, attribute one
    of the run's. The server refuses other values (422, 404): the schema documents them, and
    `refusals` (status -> why) that any request may get; a 403 there documents the token."""
    _document_refusals(schema, refusals)
    model, bodies = ex.model, schema["components"]["schemas"]
    z = {"type": "array", "minItems": model.latent_dim, "maxItems": model.latent_dim,
         "items": {"type": "number", "minimum": -ex.z_limit, "maximum": ex.z_limit}}
    index = {"type": "integer", "minimum": 0, "maximum": len(ex.x) - 1}
    label = ({"type": "integer", "minimum": 0, "maximum": model.num_classes - 1} if model.conditional
             else {"type": "null", "default": None})
    bounded = {"z": z, "label": label}
    if ex.attributes:
        bounded["attribute"] = {"type": "string", "enum": list(ex.attributes)}
    for name in REQUEST_BODIES:
        fields = bodies.get(name, {}).get("properties", {})
        for field, value in bounded.items():
            if field in fields:
                fields[field] = {**value, "description": fields[field].get("description", "")}
        if "label" in fields and model.conditional:
            bodies[name]["required"] = sorted({*bodies[name].get("required", []), "label"})
    if "PathEnd" in bodies:
        bodies["PathEnd"] = {"title": "PathEnd", "description": "a test example's posterior mean, or a code", "oneOf": [
            {"type": "object", "required": ["index"], "properties": {"index": index, "z": {"type": "null"}}},
            {"type": "object", "required": ["z"], "properties": {"z": z, "index": {"type": "null"}}}]}
    for parameter in schema["paths"].get("/api/examples/{index}", {}).get("get", {}).get("parameters", []):
        parameter["schema"] = {**index, "title": "Index"}
    if 403 in refusals:  # documented, so that /docs's Authorize button sends the token
        schema["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"token": []}]


def _document_refusals(schema: dict, refusals: dict[int, str]) -> None:
    """Every refusal is `{"detail": one line}` (not FastAPI's list of validation errors), and any
    request may get those of `refusals` as well as its own."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Refusal"] = {"type": "object", "required": ["detail"], "title": "Refusal",
                             "properties": {"detail": {"type": "string", "description": "why, in one line"}}}
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, why in refusals.items():
                responses.setdefault(str(status), {"description": why})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = body
