"""`vaelab serve`'s whole JSON API, fuzzed from its own OpenAPI schema: no request gets a 5xx.

schemathesis reads /openapi.json from the app in-process (no socket) and, for every operation,
sends the schema's examples, its boundary values (the coverage phase) and hypothesis-generated
bodies, valid and invalid, to an explorer over a tiny conditional run served as `vaelab serve
--host 0.0.0.0` would (Host checked, access token required). Every answer must be a non-5xx that
conforms to the schema (status, content type, body); requests without the token must be refused.

The default test stays small (a few dozen examples per operation, a fixed seed: the same cases on
every run); `make test-slow` runs the slow variant with many more.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, ignored_auth, negative_data_rejection, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from vaelab.serve import create_app
from vaelab.serve.access import allowed_hosts

from conftest import tiny_torch

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

TOKEN = "fuzz-token-0123456789"
SEED = 24  # issue 24: the same generated requests on every run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]


@pytest.fixture(scope="module")
def fuzzed_app(tiny_conditional_run):
    """The explorer over a conditional run (labels 0..2 matter), as `vaelab serve --host 0.0.0.0` makes it."""
    run = tiny_conditional_run
    with tiny_torch():
        # testserver: the Host name schemathesis's in-process client sends, as a proxy's name would be
        return create_app(run, max_examples=50, allowed_hosts=allowed_hosts("0.0.0.0", ["testserver"]), token=TOKEN)


def api_schema(app, max_examples: int):
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
    })
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config,
                                          headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def api(fuzzed_app):
    return api_schema(fuzzed_app, max_examples=30)


def check(case) -> None:
    response = case.call()
    # a refusal is one line (JSON {"detail": ...}) that quotes at most an excerpt of the request
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.text[:200]
        assert len(response.content) < 2000 and "Traceback" not in response.text, response.text[:200]
    case.validate_response(response, checks=CHECKS)


def fuzz(api, method: str, path: str, max_examples: int) -> None:
    """The schema's boundary values (schemathesis's coverage phase), then hypothesis's valid and invalid requests."""
    operation = api[path][method]
    for case in api.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                        generation_config=api.config.generation_for(operation=operation)):
        check(case)
    for mode in GenerationMode:
        @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            check(case)

        try:
            run()
        except Unsatisfiable:  # an operation without inputs has no invalid request
            assert mode == GenerationMode.NEGATIVE and not operation.body and not operation.path_parameters


# Every operation of /openapi.json (test_the_list_is_the_whole_schema keeps it so).
OPERATIONS = [("GET", "/api/info"), ("GET", "/api/map"), ("GET", "/api/examples/{index}"), ("POST", "/api/decode"),
              ("POST", "/api/encode"), ("POST", "/api/sample"), ("POST", "/api/interpolate"),
              ("POST", "/api/attribute")]


def test_the_list_is_the_whole_schema(api):
    listed = {(op.ok().method.upper(), op.ok().path) for op in api.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error(api, method, path):
    fuzz(api, method, path, max_examples=30)


@pytest.mark.slow
@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error_long(api, method, path):
    fuzz(api, method, path, max_examples=1000)
