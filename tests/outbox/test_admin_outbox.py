"""`GET /api/admin/outbox`: behind the admin bearer token, JSON, filters, error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.mail import outbox
from summitcal.web.app import create_app
from tests.outbox.conftest import NOW, queue, write_config

TOKEN = "outbox-admin-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def make_client(tmp_path, database_url, env):
    runtime = Runtime.open(load_config(write_config(tmp_path, database_url), env=env))
    return runtime, TestClient(create_app(runtime))


@pytest.fixture
def runtime_client(tmp_path, database_url):
    runtime, client = make_client(tmp_path, database_url, {"SUMMITCAL_ADMIN_TOKEN": TOKEN})
    with client:
        yield runtime, client
    runtime.close()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]


def test_the_outbox_as_json(runtime_client):
    runtime, client = runtime_client
    engine = runtime.store.engine
    queue(engine, 3, topic="dushanbe-2021/csto-council")
    [first] = outbox.claim(engine, "w", 1, NOW)
    outbox.mark_sent(engine, first.id, "<abc@summitcal.test>", NOW)

    response = client.get("/api/admin/outbox", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert [m["recipient"] for m in body] == ["m2@example.org", "m1@example.org",
                                              "m0@example.org"]
    sent = body[2]
    assert sent["status"] == "sent" and sent["message_id"] == "<abc@summitcal.test>"
    assert sent["kind"] == "test" and sent["key"] == "test:m0" and sent["attempts"] == 1
    assert sent["payload"] == {"n": 0} and sent["topic"] == "dushanbe-2021/csto-council"
    assert sent["due_at"] == "2021-09-15T09:00:00Z"

    response = client.get("/api/admin/outbox", params={"status": "pending", "limit": 1},
                          headers=AUTH)
    assert [m["recipient"] for m in response.json()] == ["m2@example.org"]


def test_bad_parameters_are_422_in_the_one_error_shape(runtime_client):
    _, client = runtime_client
    error = assert_error(client.get("/api/admin/outbox?status=lost", headers=AUTH), 422,
                         "invalid")
    assert error["field"] == "status"
    assert_error(client.get("/api/admin/outbox?limit=0", headers=AUTH), 422, "invalid")


def test_the_token_is_required(runtime_client):
    _, client = runtime_client
    assert_error(client.get("/api/admin/outbox"), 401, "unauthorized")
    assert_error(client.get("/api/admin/outbox", headers={"authorization": "Bearer nope"}),
                 401, "unauthorized")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_off_without_an_admin_token(tmp_path, database_url):
    runtime, client = make_client(tmp_path, database_url, {})
    with client:
        assert_error(client.get("/api/admin/outbox", headers=AUTH), 403, "admin_disabled")
    runtime.close()


def test_listed_in_openapi(runtime_client):
    _, client = runtime_client
    assert "/api/admin/outbox" in client.get("/openapi.json").json()["paths"]
