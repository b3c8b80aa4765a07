"""Every error answer has one body, whatever raised it; the OpenAPI document says so."""

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import errors
from api.main import create_app
from core.errors import BusinessError, Conflict, Forbidden, NotFound, Refused, Unavailable


class AgentSuspended(Forbidden):
    pass


class Body(BaseModel):
    amount_fen: int


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    errors.install(app)

    @app.get("/suspended")
    def suspended():
        raise AgentSuspended("agent A002 is suspended: fake orders")

    @app.get("/refused")
    def refused():
        raise BusinessError("not a repeat", type="NotARepeat", status=422)

    @app.get("/http")
    def http():
        raise HTTPException(415, detail="Content-Type must be text/csv")

    @app.post("/body")
    def body(b: Body):
        return b

    return TestClient(app)


def test_a_business_error_names_its_status_type_and_reason(client):
    r = client.get("/suspended")
    assert r.status_code == 403
    assert r.json() == {"status": 403, "type": "agent_suspended", "reason": "agent A002 is suspended: fake orders"}


def test_a_type_and_status_given_at_the_raise_win(client):
    assert client.get("/refused").json() == {"status": 422, "type": "NotARepeat", "reason": "not a repeat"}


def test_http_exceptions_and_unknown_routes_get_the_same_shape(client):
    assert client.get("/http").json() == {"status": 415, "type": "unsupported_media_type",
                                          "reason": "Content-Type must be text/csv"}
    assert client.get("/nowhere").json() == {"status": 404, "type": "not_found", "reason": "Not Found"}


def test_validation_errors_list_each_field(client):
    r = client.post("/body", json={"amount_fen": "ten"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "invalid_request" and body["reason"].startswith("amount_fen: ")
    assert [e["field"] for e in body["errors"]] == ["amount_fen"]


@pytest.mark.parametrize(("kind", "status"), [(NotFound, 404), (Conflict, 409), (Refused, 422), (Unavailable, 503)])
def test_each_kind_carries_its_status(kind, status):
    err = kind("why")
    assert (err.status, err.reason) == (status, "why")


def test_openapi_declares_the_error_body_on_every_error_response():
    schema = create_app(temporal_client=object()).openapi()
    assert "ErrorBody" in schema["components"]["schemas"] and "HTTPValidationError" not in schema["components"]["schemas"]
    error_responses = [resp for path in schema["paths"].values() for op in path.values()
                       for code, resp in op["responses"].items() if code[0] in "45"]
    assert len(error_responses) > 50
    assert all(resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
               for resp in error_responses)
