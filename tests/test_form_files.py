"""A form's definition downloaded from the office (/admin/forms/<id>/form.xlsx|yaml): the workbook
and the YAML read back to the very definition the instance serves, for every demo form."""
from __future__ import annotations

import pytest
import yaml

from service import formspec
from service.formspec import xlsform
from service.formspec.catalog import _canonical

from .conftest import DEMO_FORMS, login, make_app, PASSWORD  # noqa: F401

DEMO = sorted(p.stem for p in DEMO_FORMS.glob("*.yaml"))


@pytest.fixture
def office_demo(tmp_path, fast_hashing):
    from service.office import areas, auth
    from service.storage.db import db
    from service.storage.models import User
    app = make_app(tmp_path, DEMO_FORMS)
    with app.app_context(), db.atomic():
        sq = areas.create("SQ1", "东湖社区")
        for username, role, area in (("admin", "admin", None), ("mgr", "manager", sq),
                                     ("sv", "surveyor", sq)):
            User.create(username=username, role=role, area=area,
                        password_hash=auth.hash_password(PASSWORD))
    return app


def signed_in(app, username):
    client = app.test_client()
    login(client, username)
    return client


@pytest.mark.parametrize("form_id", DEMO)
def test_the_downloads_read_back_to_the_served_definition(office_demo, form_id):
    client = signed_in(office_demo, "mgr")
    served = office_demo.extensions["doorstep.catalog"].get(form_id)
    book = client.get(f"/admin/forms/{form_id}/form.xlsx")
    assert book.status_code == 200 and book.data[:2] == b"PK"
    assert f'filename="{form_id}-v{served.version}.xlsx"' in book.headers["Content-Disposition"]
    with office_demo.test_request_context():
        again, _notes = xlsform.load(book.data)
    assert _canonical(again) == _canonical(served)
    text = client.get(f"/admin/forms/{form_id}/form.yaml")
    assert text.status_code == 200 and text.mimetype == "application/yaml"
    parsed = formspec.parse(yaml.safe_load(text.data.decode("utf-8")), where="download")
    assert _canonical(parsed) == _canonical(served)


def test_who_may_download_and_what_is_not_there(office_demo):
    assert signed_in(office_demo, "sv").get("/admin/forms/household/form.xlsx").status_code == 404
    client = signed_in(office_demo, "admin")
    assert client.get("/admin/forms/nope/form.xlsx").status_code == 404
    assert client.get("/admin/forms/household/form.json").status_code == 404
    assert client.get("/admin/forms/household/form.yaml?version=999").status_code == 404
    assert client.get("/admin/forms/household/form.yaml?version=-1").status_code == 404
    page = client.get("/admin/forms/household")
    assert 'href="/admin/forms/household/form.xlsx"' in page.text and "表单定义" in page.text
    assert office_demo.test_client().get(
        "/admin/forms/household/form.yaml").status_code in (302, 401, 404)   # signed out
