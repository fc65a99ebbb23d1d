"""Shared fixtures: a fresh app and database per test, and a `visitor` that fills forms like a phone.

Tests run with CSRF protection ON, as in production: the visitor reads the token from the page.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from service import create_app
from service.cli import main as cli_main
from service.db import db
from service.models import create_tables

ROOT = Path(__file__).resolve().parent.parent
TEST_FORMS = Path(__file__).resolve().parent / "forms"
DEMO_FORMS = ROOT / "forms"


def make_app(tmp_path, forms_dir=TEST_FORMS, **config):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'doorstep.db'}",
        "FORMS_DIR": str(forms_dir),
        **config,
    })
    with app.app_context():
        db.connect(reuse_if_open=True)
        create_tables()
        db.close()
    return app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def demo_app(tmp_path):
    return make_app(tmp_path, DEMO_FORMS)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def cli():
    """Invoke the `doorstep` command group as a user would."""
    from click.testing import CliRunner

    def invoke(*args, env=None):
        return CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)
    return invoke


class Visitor:
    """Opens a form page and posts answers with the page's CSRF token and submission UUID."""

    def __init__(self, client):
        self.client = client

    def open(self, path, **kw):
        page = self.client.get(path, **kw)
        assert page.status_code == 200, page.text
        return page, hidden(page.text, "csrf_token"), hidden(page.text, "submission_uuid")

    def submit(self, path, answers: dict, uuid=None, **kw):
        _page, token, page_uuid = self.open(path)
        data = {"csrf_token": token, "submission_uuid": uuid or page_uuid, **answers}
        return self.client.post(path, data=data, **kw)


def hidden(html: str, name: str) -> str | None:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    return m.group(1) if m else None


def receipt(html: str) -> str | None:
    m = re.search(r'id="receipt">([^<]+)<', html)
    return m.group(1).strip() if m else None


def errors(html: str) -> list[str]:
    return [e.strip() for e in re.findall(r'class="error"[^>]*>([^<]+)<', html)]


@pytest.fixture
def visitor(client):
    return Visitor(client)


@pytest.fixture
def database(app):
    """The app's database, connected, for assertions on stored rows."""
    with app.app_context():
        db.connect(reuse_if_open=True)
        yield db
        db.close()
