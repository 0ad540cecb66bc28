"""The officer API fuzzed from its own OpenAPI schema (hypothesis): no input answers 500.

For every operation, hypothesis draws path and query parameters and a JSON body
shaped after the schema (right names, values of any type: valid ones, edge
cases, nonsense), with a valid, unknown or missing token.  The test client
re-raises any exception of the app, so a crash fails the test as well as a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Role
from riskprompt.models.warnings import (
    WarningColour,
    WarningForm,
    issue_warning,
    submit_rectification,
)
from tests.builders import make_person, make_prompt_with_delivery, make_unit

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
EXAMPLES = 100

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["all", "unit:1", "unit:1+", "post:1", "person:CW001", "level:高", "P1", ""]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
WORDS = [
    "all",
    "unit:1",
    "unit:1+",
    "unit:2",
    "post:1",
    "person:CW001",
    "person:JJ001",
    "level:高",
    "level:low",
    "CW001",
    "JJ001",
    "2026-12",
    "请注意",
]
SANE_MOMENTS = st.datetimes(
    min_value=datetime(2026, 11, 1),
    max_value=datetime(2027, 6, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
).map(lambda d: d.isoformat())
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.isoformat()) | st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2030, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8))]),
).map(lambda d: d.isoformat())


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _valid(schema: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema allows (so that requests get past validation into the rules)."""
    schema = _resolve(schema, spec)
    if "anyOf" in schema:
        return st.one_of([_valid(alternative, spec) for alternative in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "integer":
        low, high = schema.get("minimum", 0), schema.get("maximum", 2**31 - 1)
        return st.integers(min_value=low, max_value=min(high, low + 2)) | st.integers(low, high)
    if kind == "boolean":
        return st.booleans()
    if kind == "string" and schema.get("format") == "date-time":
        return SANE_MOMENTS
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        return st.sampled_from(WORDS) | st.text(min_size=low, max_size=min(high, 80))
    return JSON


def _value(schema: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly values the schema allows; else edge cases and anything at all."""
    schema = _resolve(schema, spec)
    edges: list[st.SearchStrategy[Any]] = [JSON]
    for alternative in schema.get("anyOf", [schema]):
        alternative = _resolve(alternative, spec)
        if alternative.get("type") == "integer":
            low = alternative.get("minimum", -(2**40))
            high = alternative.get("maximum", 2**40)
            edges.append(st.sampled_from([low - 1, high + 1, 2**63, -(2**63)]))
        if alternative.get("type") == "string":
            edges.append(st.text(min_size=alternative.get("maxLength", 64) + 1, max_size=5000))
            edges.append(MOMENTS)
    return st.one_of(_valid(schema, spec), _valid(schema, spec), st.one_of(edges))


def _as_query(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def operation_cases(spec: dict[str, Any], path: str, method: str) -> st.SearchStrategy[dict]:
    """Requests for one operation: a path, query parameters and a JSON body."""
    operation = spec["paths"][path][method]
    params = operation.get("parameters", [])
    path_params = {
        p["name"]: _value(p["schema"], spec).map(_as_query) for p in params if p["in"] == "path"
    }
    query_params = {
        p["name"]: _value(p["schema"], spec).map(_as_query) for p in params if p["in"] == "query"
    }
    body: st.SearchStrategy[Any] = st.none()
    if "requestBody" in operation:
        schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"], spec)
        fields = {name: _value(sub, spec) for name, sub in schema["properties"].items()}
        required = {name: fields.pop(name) for name in schema.get("required", [])}
        shaped = st.fixed_dictionaries(required, optional=fields)
        loose = st.fixed_dictionaries({}, optional={**required, **fields})
        body = st.one_of(shaped, shaped, shaped, loose, JSON)
    return st.fixed_dictionaries(
        {
            "path": st.fixed_dictionaries(path_params),
            "query": st.fixed_dictionaries({}, optional=query_params),
            "body": body,
            "raw": st.none() | st.none() | st.binary(max_size=64),
            "token": st.sampled_from(["valid", "valid", "valid", "unknown", "none"]),
        }
    )


@pytest.fixture
def seeded(session: Session, clock) -> dict[str, str]:
    """An officer with a token, staff with prompts, a warning with a pending correction."""
    unit = make_unit(session)
    officer = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER)
    clerk = make_person(session, unit=unit, staff_id="CW001", mobile="+8613800138001")
    make_prompt_with_delivery(session, person=clerk, at=clock.now())
    warning = issue_warning(
        session,
        actor=officer,
        person=clerk,
        colour=WarningColour.YELLOW,
        form=WarningForm.CORRECT,
        reason="x",
        deadline=clock.now() + timedelta(days=5),
        clock=clock,
    )
    submit_rectification(
        session, warning=warning, actor=clerk, description="done", evidence=[], clock=clock
    )
    token = create_api_token(session, person=officer, clock=clock)
    session.commit()
    return {"valid": token, "unknown": "rp_" + "0" * 43}


OPERATIONS = [
    ("/api/v1/special-prompts", "post"),
    ("/api/v1/prompts", "get"),
    ("/api/v1/warnings", "get"),
    ("/api/v1/corrections", "get"),
    ("/api/v1/corrections/{correction_id}/review", "post"),
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_input_answers_500(client, seeded, path, method):
    spec = client.get("/openapi.json").json()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=operation_cases(spec, path, method))
    def check(case: dict[str, Any]) -> None:
        url = path
        for name, value in case["path"].items():
            url = url.replace("{" + name + "}", quote(value, safe=""))
        headers = {}
        if case["token"] != "none":
            headers["Authorization"] = f"Bearer {seeded[case['token']]}"
        kwargs: dict[str, Any] = {"params": case["query"], "headers": headers}
        if method == "post" and case["raw"] is not None:
            kwargs["content"] = case["raw"]  # not JSON, or not UTF-8
            headers["Content-Type"] = "application/json"
        elif method == "post":
            kwargs["json"] = case["body"]
        response = client.request(method.upper(), url, **kwargs)
        assert response.status_code < 500, (case, response.text)
        if case["token"] != "valid":
            # a body that is not JSON is refused (400) before the token is looked at
            assert response.status_code in (400, 401, 404, 405, 422), (case, response.text)

    check()
