"""The explorer's request and response bodies: their fields and bounds are the OpenAPI page's documentation."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .explorer import MAX_ALPHA, MAX_SAMPLES, MAX_STEPS, MAX_TEMPERATURE

MAX_LATENT_VALUES = 65_536  # refused by the parser before any work (the run's own size is checked after)
LatentValues = list[float]
_Z = Field(max_length=MAX_LATENT_VALUES, description="a latent code: latent_dim finite numbers (see /api/info)")
MAX_LABEL = 2**31 - 1  # any class number a model could have; larger ones are refused here, not in torch
_LABEL = Field(None, ge=0, le=MAX_LABEL, description="the class, for conditional runs only (0..classes-1)")


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


