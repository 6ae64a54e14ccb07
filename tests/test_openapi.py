"""The API's OpenAPI documents, fuzzed with schemathesis through the WSGI app: every operation, with
data that fits the document and data that does not, anonymously and as a logged-in editor (session
cookie and CSRF token). No answer is a 5xx, every answer fits the document (status, media type,
body), a 400 ``invalid_parameter`` names a parameter of the request, and a change asked for without
a login is refused (401/403, or 400 csrf). Bounded and derandomised: the same cases every run."""
from __future__ import annotations

import json

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from layers.web.auth import COOKIE
from tests.auth_helpers import add_users, csrf, login, make_app

#: The documents fuzzed; each is one line.
DOCUMENTS = [
    "/api/openapi.json",
    # "/ogc/api",  # the OGC API Features document (branch ogc): the lead enables it after merging
]
ASKERS = ("anonymous", "editor")
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
#: examples per operation and mode (about 25 s for the whole file on 2 cores)
EXAMPLES = 25
SAFE = ("GET", "HEAD", "OPTIONS")


@pytest.fixture(scope="module")
def app(built_store, tmp_path_factory):
    # logins are fuzzed too: the per-address login limit would end the editor's logins half way
    app = make_app(built_store, tmp_path_factory.mktemp("fuzz") / "atlas", LOGIN_RATE="100000/minute")
    add_users(app, grants=("roads",))
    return app


@pytest.fixture(scope="module")
def documents(app):
    client = app.test_client()
    return {url: client.get(url).get_json() for url in DOCUMENTS}


def _declared(document: dict, case) -> set[str]:
    """The names a request to ``case``'s operation can carry: its parameters, its body's members,
    the body itself, and whatever the case sent."""
    op = document["paths"][case.operation.path][case.operation.method.lower()]
    names = {p["name"] for p in op.get("parameters", [])} | {"body"}
    for media in (op.get("requestBody") or {}).get("content", {}).values():
        names |= set((media.get("schema") or {}).get("properties", {}))
    for sent in (case.query, case.path_parameters, case.headers):
        names |= set(sent or {})
    if isinstance(case.body, dict):
        names |= set(case.body)
        if isinstance(case.body.get("properties"), dict):  # a feature's fields
            names |= set(case.body["properties"])
    return names


def names_the_parameter(document: dict):
    def check(ctx, response, case):
        if response.status_code != 400 or "json" not in response.headers.get("content-type", [""])[0]:
            return None
        body = response.json()
        if body.get("error") != "invalid_parameter":
            return None
        named, known = body.get("parameter"), _declared(document, case)
        if named not in known:
            raise AssertionError(f"a 400 invalid_parameter names {named!r}, no parameter of this request "
                                 f"({', '.join(sorted(known))}): {body.get('detail')}")
        return True
    check.__name__ = "names_the_parameter"
    return check


def refused_without_login(document: dict):
    """A change that needs a login, asked anonymously: 401/403 or 400 csrf (a cookie without the
    token), or 404 for a path the app does not route; never done, never a 5xx."""
    def check(ctx, response, case):
        op = document["paths"][case.operation.path][case.operation.method.lower()]
        if case.operation.method.upper() in SAFE or {} in op.get("security", [{}]):
            return None
        code = response.status_code
        if code in (401, 403, 404) or (code == 400 and response.json().get("error") == "csrf"):
            return True
        raise AssertionError(f"{case.operation.label} anonymously answered {code}, not 401/403/400 csrf")
    check.__name__ = "refused_without_login"
    return check


def _session(app, who: str) -> tuple[dict, dict]:
    """(cookies, headers) of ``who``: a fresh login for the editor, nothing for anonymous."""
    if who == "anonymous":
        return {}, {}
    client = app.test_client()
    assert login(client, who).status_code == 200
    return {COOKIE: client.get_cookie(COOKIE).value}, {"X-CSRFToken": csrf(client)}


def _fuzz(app, document: dict, operation, mode, who: str) -> str | None:
    """The first failure of ``operation`` (its message), or None."""
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
              names_the_parameter(document)]
    if who == "anonymous":
        checks.append(refused_without_login(document))
    cookies, headers = _session(app, who)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.explicit,
              Phase.generate], suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if who != "anonymous":  # the editor's own session, not generated credentials
            case.headers = {k: v for k, v in (case.headers or {}).items()
                            if k.lower() not in ("authorization", "x-csrftoken")}
            case.cookies = None
        # identity: the WSGI transport does not decode a compressed body
        response = case.call(headers={"Accept-Encoding": "identity", **headers}, cookies=cookies)
        case.validate_response(response, checks=checks)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing of this operation can be made wrong (no parameters, no body)
    except BaseException as exc:  # schemathesis' FailureGroup is an exception group
        return str(exc)[:3000]
    return None


def test_the_document_is_openapi_3_and_self_contained(documents):
    for url, document in documents.items():
        assert document["openapi"].startswith("3.0"), url
        refs = []

        def walk(node):
            if isinstance(node, dict):
                if "$ref" in node:
                    refs.append(node["$ref"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document)
        assert refs and all(r.startswith("#/") for r in refs), url
        assert "http://" not in json.dumps(document) and "https://" not in json.dumps(document), url


@pytest.mark.parametrize("url", DOCUMENTS)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("who", ASKERS)
def test_fuzz_every_operation(app, documents, url, mode, who):
    schema = schemathesis.openapi.from_wsgi(url, app)
    failures, seen = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        seen += 1
        failure = _fuzz(app, documents[url], operation, mode, who)
        if failure:
            failures[operation.label] = failure
    assert seen >= len(documents[url]["paths"]) - 1  # every operation (the document's own path aside)
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
