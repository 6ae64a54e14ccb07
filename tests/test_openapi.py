"""The API's OpenAPI documents, fuzzed with schemathesis through the WSGI app: every operation, with
data that fits the document and data that does not, anonymously and as a logged-in editor (session
cookie and CSRF token). No answer is a 5xx, every answer fits the document (status, media type,
body), a 400 ``invalid_parameter`` names a parameter of the request, and a change asked for without
a login is refused (401/403, or 400 csrf). Bounded and derandomised: the same cases every run."""
from __future__ import annotations

import json
import re

import hypothesis
import pytest
import schemathesis

from layers import catalog
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
    "/ogc/api",  # the OGC API - Features document
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
    def resolved(p):  # a parameter given by reference (#/components/parameters/NAME)
        return document["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p

    names = {resolved(p)["name"] for p in op.get("parameters", [])} | {"body"}
    for media in (op.get("requestBody") or {}).get("content", {}).values():
        names |= set((media.get("schema") or {}).get("properties", {}))
    for sent in (case.query, case.path_parameters, case.headers):
        names |= set(sent or {})
    if isinstance(case.body, dict):
        names |= set(case.body)
        if isinstance(case.body.get("properties"), dict):  # a feature's fields, sent or required
            names |= set(case.body["properties"]) | set(catalog.FIELD_NAMES)
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
            case.cookies = {}
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
        # no address to fetch: the only URLs are names (OGC's CRS and conformance identifiers, the
        # GeoJSON schema's name QGIS recognises a geometry by) and the server itself
        names = ("http://www.opengis.net/def/", "http://www.opengis.net/spec/", "https://geojson.org/schema/")
        found = re.findall(r"https?://[^\s\"']+", json.dumps(document))
        servers = tuple(s["url"] for s in document.get("servers", ()) if s["url"].startswith("http://localhost"))
        fetchable = [u for u in found if not u.startswith(names + servers)]
        assert not fetchable, (url, fetchable[:5])


def test_every_api_route_is_in_the_document(app, documents):
    """A route added without its description fails here: each /api rule and method of the app is an
    operation of /api/openapi.json (a templated segment matches any template or concrete name)."""
    import re

    paths = documents["/api/openapi.json"]["paths"]
    shapes = {re.sub(r"\{[^}]+\}", "{}", p): p for p in paths}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        shape = re.sub(r"<[^>]+>", "{}", rule.rule)
        pattern = re.compile("^" + re.escape(shape).replace(r"\{\}", r"[^/]+") + "$")
        found = [p for s, p in shapes.items() if s == shape or pattern.match(p)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if not any(method.lower() in paths[p] for p in found):
                missing.append(f"{method} {rule.rule}")
    assert not missing, missing


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


# -- what the fuzzing found, each pinned --------------------------------------------------------------
@pytest.fixture()
def editor(app):
    client = app.test_client()
    assert login(client, "editor").status_code == 200
    return client, {"X-CSRFToken": csrf(client)}


def test_a_multipart_part_without_a_name_is_a_400_not_a_500(editor):
    """Flask-WTF's CSRF lookup walked the form's field names and failed on a part without one."""
    client, headers = editor
    body = b'--XX\r\nContent-Disposition: form-data\r\n\r\n\xe5\xa8\x81\xe6\xb5\xb7\r\n--XX--\r\n'
    r = client.post("/api/imports", data=body, headers={**headers, "Content-Type": "multipart/form-data; boundary=XX"})
    assert r.status_code == 400 and r.get_json()["parameter"] == "file", r.get_data(as_text=True)


def test_a_nameless_part_does_not_pass_for_the_csrf_token(editor):
    client, _ = editor
    body = b'--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--\r\n'
    r = client.post("/api/imports", data=body, headers={"Content-Type": "multipart/form-data; boundary=XX"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"


@pytest.mark.parametrize("url,parameter", [
    ("/api/revisions?until=0141-01-04T00:11:46Z", None),  # was 400 naming as_of: "141-01-04…" read back
    ("/api/features/parks-huaxiacheng?as_of=0001-01-01T00:00:00%2B01:00", "as_of"),  # year 0 in UTC: was a 500
    ("/api/revisions?since=9999-12-31T23:00:00-05:00", "since"),  # year 10000 in UTC: was a 500
])
def test_times_before_year_1000_and_out_of_range(client_of, url, parameter):
    r = client_of.get(url)
    if parameter is None:
        assert r.status_code == 200, r.get_data(as_text=True)
    else:
        assert r.status_code == 400 and r.get_json()["parameter"] == parameter, r.get_data(as_text=True)


def test_store_times_are_padded_iso_8601():
    from geo.store.revisions import parse_time as store_time
    from layers.accounts.db import parse_time as audit_time
    from layers.api.params import parse_time

    assert parse_time("0141-01-04T08:00:00+08:00") == "0141-01-04T00:00:00.000000Z"
    assert store_time("0141-01-04") == "0141-01-04T00:00:00.000000Z"
    assert audit_time("0141-01-04") == "0141-01-04T00:00:00Z"


def test_a_member_named_empty_is_named(client_of):
    """An unknown body member "" was refused without a parameter: the body dropped a falsy name."""
    r = client_of.post("/api/query", json={"": 1, "layers": ["parks"]})
    assert r.status_code == 400 and r.get_json()["parameter"] == ""


def test_overlay_names_the_side_of_a_bad_filter(client_of):
    r = client_of.get("/api/overlay?left=projects&right=zones&left_district=不存在")
    assert r.status_code == 400 and r.get_json()["parameter"] == "left_district"
    r = client_of.get("/api/overlay?left=projects&right=zones&right_status=nope")
    assert r.status_code == 400 and r.get_json()["parameter"] == "right_status"


def test_compare_names_from_for_a_time_before_the_history(client_of):
    r = client_of.get("/api/layers/parks/compare?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z")
    assert r.status_code == 400 and r.get_json()["parameter"] == "from", r.get_data(as_text=True)


@pytest.fixture()
def client_of(app):
    return app.test_client()
