"""/healthz tells a load balancer whether this instance can reach its database right now."""
from __future__ import annotations

import socket

from service import create_app

from .conftest import TEST_FORMS


def app_on(url):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": url,
                       "FORMS_DIR": str(TEST_FORMS)})


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_is_ok_while_the_database_answers(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "database": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_needs_no_sign_in_and_sets_no_cookie(client):
    """A load balancer polls it every few seconds: no session may pile up from that."""
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert client.get_cookie("session") is None


def test_healthz_is_503_when_postgresql_does_not_answer(tmp_path):
    app = app_on(f"postgresql://127.0.0.1:{closed_port()}/doorstep")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert "Set-Cookie" not in answer.headers


def test_healthz_is_503_while_the_sqlite_file_cannot_be_opened_and_ok_again_after(tmp_path):
    path = tmp_path / "data" / "doorstep.db"
    path.mkdir(parents=True)            # a directory where the database file should be
    app = app_on(f"sqlite:///{path}")
    client = app.test_client()
    assert client.get("/healthz").status_code == 503
    path.rmdir()
    answer = client.get("/healthz")
    assert answer.status_code == 200, "a failed check must not stick to the instance"
    assert answer.get_json()["database"] == "ok"
