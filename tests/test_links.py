"""QR links: from a scanned code to the right form, with an attribution the visitor cannot change.

The office fixture has JD (街道) > SQ1 > G1 and JD > SQ2, an admin, mgr1 (manager of SQ1), mgr2
(manager of SQ2) and sv1 (surveyor in SQ1); the test form is `kitchen`. Every code a test follows
is first decoded from its image, as a phone would.
"""
from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from service import links
from service.storage.db import db
from service.storage.models import Area, AuditEvent, Link, Submission, User, utcnow

from .conftest import KITCHEN_ANSWERS, Visitor, csrf_token, decode_image, hidden, receipt

BASE = "http://192.168.1.20:8000"
ANSWERS = {"consent": "y", "name": "张三", "employed": "yes", "members-0-mname": "李四"}
TZ = ZoneInfo("Asia/Shanghai")


def make_link(app, area="SQ1", surveyor="sv1", **kw) -> Link:
    with app.app_context():
        return links.create("kitchen", Area.get(Area.code == area),
                            User.get(User.username == surveyor) if surveyor else None, **kw)


def reload(app, model, row_id):
    with app.app_context():
        db.connect(reuse_if_open=True)
        return model.get_by_id(row_id)


def scanned_path(client, link_id) -> str:
    """Decode the link's PNG from the office and keep the path a phone would open."""
    image = client.get(f"/admin/links/{link_id}/qr.png")
    found = decode_image(Image.open(io.BytesIO(image.data)))
    assert len(found) == 1
    url = urlsplit(found[0].text)
    assert f"{url.scheme}://{url.netloc}" == BASE
    return url.path


def submissions(app):
    with app.app_context():
        db.connect(reuse_if_open=True)
        return list(Submission.select().where(Submission.link.is_null(False)))


def events(app, action):
    with app.app_context():
        db.connect(reuse_if_open=True)
        return [(e.target, json.loads(e.detail), e.username)
                for e in AuditEvent.select().where(AuditEvent.action == action)]


@pytest.fixture
def office_with_base(office):
    office.app.config["PUBLIC_BASE_URL"] = BASE
    return office


# Tokens

def test_tokens_are_short_url_safe_and_carry_96_random_bits():
    tokens = {links.new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", t) for t in tokens)   # 16 x 6 bits
    assert len({t[:4] for t in tokens}) > 1500                          # no shared prefix


# From a code to a stored, attributed submission

def test_a_link_made_in_the_office_opens_its_form_and_attributes_the_answers(office_with_base):
    office = office_with_base
    manager = office.client("mgr1")
    page = manager.post("/admin/links/new", data={
        "csrf_token": csrf_token(manager), "form_id": "kitchen", "area": "SQ1",
        "surveyor": str(office.users["sv1"]), "channel": "surveyor", "expires": ""})
    assert page.status_code == 302
    link_id = int(page.location.rstrip("/").rsplit("/", 1)[1])
    path = scanned_path(manager, link_id)

    phone = Visitor(office.app.test_client())
    form_page, _token, _uuid = phone.open(path + "?lang=en")
    assert 'data-form="kitchen"' in form_page.text
    done = phone.submit(path, ANSWERS)
    assert done.status_code == 200 and receipt(done.text)

    stored, = submissions(office.app)
    assert (stored.link_id, stored.area_id, stored.surveyor_id, stored.channel) == \
        (link_id, office.areas["SQ1"], office.users["sv1"], "surveyor")
    assert reload(office.app, Link, link_id).scans == 2         # opened twice, posted once
    (target, detail, username), = events(office.app, "link_created")
    assert (target, detail["area"], detail["surveyor"], username) == \
        (f"link:{link_id}", "SQ1", "sv1", "mgr1")


def test_the_command_line_prints_the_url_last_and_it_opens_the_form(office, cli):
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"],
           "FORMS_DIR": office.app.config["FORMS_DIR"], "SECRET_KEY": "x",
           "PUBLIC_BASE_URL": BASE}
    result = cli("links", "create", "kitchen", "--area", "G1", "--expires", "2099-12-31",
                 env=env)
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert re.fullmatch(rf"{re.escape(BASE)}/s/[A-Za-z0-9_-]{{16}}", url)

    phone = Visitor(office.app.test_client())
    assert phone.submit(urlsplit(url).path, ANSWERS).status_code == 200
    stored, = submissions(office.app)
    link = reload(office.app, Link, stored.link_id)
    assert (stored.area_id, stored.surveyor_id, stored.channel) == (office.areas["G1"], None, "self")
    assert links.last_day(link, TZ) == dt.date(2099, 12, 31)
    assert events(office.app, "link_created")[0][2] == "cli"


def test_the_command_line_refuses_a_surveyor_of_another_area(office, cli):
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"],
           "FORMS_DIR": office.app.config["FORMS_DIR"], "SECRET_KEY": "x"}
    result = cli("links", "create", "kitchen", "--area", "SQ2", "--surveyor", "sv1", env=env)
    assert result.exit_code == 1
    assert "does not work in area 'SQ2'" in result.output
    with office.app.app_context():
        assert Link.select().count() == 0


def test_the_command_line_finds_a_surveyor_by_name_too(office, cli):
    with office.app.app_context():
        User.update(display_name="王小明").where(User.id == office.users["sv1"]).execute()
    env = {"DATABASE_URL": office.app.config["DATABASE_URL"],
           "FORMS_DIR": office.app.config["FORMS_DIR"], "SECRET_KEY": "x",
           "PUBLIC_BASE_URL": BASE}
    result = cli("links", "create", "kitchen", "--area", "SQ1", "--surveyor", "王小明", env=env)
    assert result.exit_code == 0, result.output
    with office.app.app_context():
        link, = Link.select()
    assert (link.surveyor_id, link.channel) == (office.users["sv1"], "surveyor")


def test_a_visitor_cannot_change_area_surveyor_or_link(office):
    link = make_link(office.app)
    other = make_link(office.app, area="SQ2", surveyor=None)
    phone = Visitor(office.app.test_client())
    path = f"/s/{link.token}?area=SQ2&surveyor={office.users['admin']}&channel=web"
    forged = {"area": "SQ2", "area_id": office.areas["SQ2"], "surveyor": "admin",
              "surveyor_id": office.users["admin"], "link": other.id, "link_id": other.id,
              "channel": "web", "token": other.token}
    assert phone.submit(path, {**ANSWERS, **forged}).status_code == 200
    stored, = submissions(office.app)
    assert (stored.link_id, stored.area_id, stored.surveyor_id, stored.channel) == \
        (link.id, office.areas["SQ1"], office.users["sv1"], "surveyor")
    assert "area" not in json.loads(stored.answers) and "surveyor" not in json.loads(stored.answers)


def test_only_opening_the_page_counts_a_scan(office):
    link = make_link(office.app)
    client = office.app.test_client()
    client.get(f"/s/{link.token}")
    client.get(f"/s/{link.token}")
    client.post(f"/s/{link.token}", data={"name": "x"})       # a post (here invalid) is no scan
    assert reload(office.app, Link, link.id).scans == 2


# Closed and unknown links: a clear page in the visitor's language, never an error

@pytest.mark.parametrize("lang, words", [
    ("zh", "此链接已过期"), ("en", "This link has expired")])
def test_an_expired_link_says_so_and_takes_no_answers(office, lang, words):
    link = make_link(office.app)
    with office.app.app_context():
        Link.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(
            Link.id == link.id).execute()
    client = office.app.test_client()
    page = client.get(f"/s/{link.token}?lang={lang}")
    assert page.status_code == 410 and words in page.text
    assert client.post(f"/s/{link.token}", data=ANSWERS).status_code == 410
    assert submissions(office.app) == []
    assert reload(office.app, Link, link.id).scans == 0


def test_a_link_works_through_its_last_day_in_office_time():
    today = dt.date(2025, 3, 10)
    ends = links.expiry_from_date(today, TZ)
    assert ends == dt.datetime(2025, 3, 10, 16, 0)          # midnight in Shanghai, in UTC
    link = Link(expires_at=ends, disabled=False)
    assert links.state(link, now=ends - dt.timedelta(seconds=1)) == "active"
    assert links.state(link, now=ends) == "expired"
    assert links.last_day(link, TZ) == today


def test_a_disabled_link_says_so_and_the_disable_is_audited(office):
    link = make_link(office.app)
    manager = office.client("mgr1")
    done = manager.post(f"/admin/links/{link.id}/disable", data={"csrf_token": csrf_token(manager)})
    assert done.status_code == 302
    client = office.app.test_client()
    page = client.get(f"/s/{link.token}?lang=en")
    assert page.status_code == 410 and "This link is no longer in use" in page.text
    assert client.post(f"/s/{link.token}", data=ANSWERS).status_code == 410
    assert submissions(office.app) == []
    assert [(t, u) for t, _d, u in events(office.app, "link_disabled")] == \
        [(f"link:{link.id}", "mgr1")]
    manager.post(f"/admin/links/{link.id}/enable", data={"csrf_token": csrf_token(manager)})
    assert client.get(f"/s/{link.token}").status_code == 200
    assert len(events(office.app, "link_enabled")) == 1


@pytest.mark.parametrize("token", ["AAAAAAAAAAAAAAAA", "short", "x" * 300, "%3Cscript%3E..",
                                   "%E4%BD%A0%E5%A5%BD"])
def test_an_unknown_code_gets_a_clear_not_found_page(client, token):
    page = client.get(f"/s/{token}?lang=en")
    assert page.status_code == 404
    assert "This code is not known" in page.text
    assert client.post(f"/s/{token}", data=ANSWERS).status_code == 404


def test_a_link_whose_form_was_withdrawn_is_closed_not_broken(office):
    with office.app.app_context():
        link = Link.create(token=links.new_token(), form_id="gone", area=office.areas["SQ1"])
    assert office.app.test_client().get(f"/s/{link.token}").status_code == 410


# Who may make and see links

def new_link_form(client, **fields):
    return client.post("/admin/links/new", data={
        "csrf_token": csrf_token(client), "form_id": "kitchen", "channel": "surveyor",
        "expires": "", "surveyor": "", **fields})


def add_surveyor(office, username, area):
    with office.app.app_context():
        office.users[username] = User.create(username=username, role="surveyor",
                                             area=office.areas[area], password_hash="x").id


def test_a_manager_makes_links_only_in_their_area_with_their_surveyors(office):
    add_surveyor(office, "sv2", "SQ2")
    mgr1 = office.client("mgr1")
    assert new_link_form(mgr1, area="SQ2").status_code == 400
    assert new_link_form(mgr1, area="SQ1", surveyor=str(office.users["sv2"])).status_code == 400
    assert new_link_form(mgr1, area="G1").status_code == 302          # below their area
    with office.app.app_context():
        assert [link.area.code for link in Link.select()] == ["G1"]


def test_a_surveyor_must_work_in_the_links_area(office):
    admin = office.client("admin")
    page = new_link_form(admin, area="SQ2", surveyor=str(office.users["sv1"]))
    assert page.status_code == 400
    assert "This surveyor does not work in the chosen area." in page.text


def test_a_past_expiry_date_is_refused(office):
    page = new_link_form(office.client("admin"), area="SQ1", expires="2020-01-01")
    assert page.status_code == 400
    with office.app.app_context():
        assert Link.select().count() == 0


def test_another_managers_links_are_not_found(office):
    link = make_link(office.app)
    mgr2 = office.client("mgr2")
    assert mgr2.get(f"/admin/links/{link.id}").status_code == 404
    assert mgr2.post(f"/admin/links/{link.id}/disable",
                     data={"csrf_token": csrf_token(mgr2)}).status_code == 404
    assert mgr2.get(f"/admin/links/sheet?link={link.id}").status_code == 404
    assert link.token[:6] not in mgr2.get("/admin/links").text
    assert link.token[:6] in office.client("mgr1").get("/admin/links").text
    assert office.client("sv1").get("/admin/links").status_code == 404
    assert not reload(office.app, Link, link.id).disabled


def test_bulk_makes_one_card_per_surveyor_of_each_chosen_area(office):
    add_surveyor(office, "sv1b", "SQ1")
    add_surveyor(office, "sv3", "G1")
    admin = office.client("admin")
    page = admin.post("/admin/links/bulk", data={
        "csrf_token": csrf_token(admin), "form_id": "kitchen", "areas": ["SQ1", "G1", "SQ2"],
        "channel": "surveyor", "expires": ""}, follow_redirects=True)
    assert "3 link(s) created." in page.text
    assert "No active surveyor in: 西山社区" in page.text
    with office.app.app_context():
        made = {(link.area.code, link.surveyor.username, link.channel) for link in Link.select()}
    assert made == {("SQ1", "sv1", "surveyor"), ("SQ1", "sv1b", "surveyor"),
                    ("G1", "sv3", "surveyor")}
    assert len(events(office.app, "link_created")) == 3


def test_bulk_household_links_are_one_per_area_and_stay_in_the_managers_areas(office):
    mgr1 = office.client("mgr1")
    refused = mgr1.post("/admin/links/bulk", data={
        "csrf_token": csrf_token(mgr1), "form_id": "kitchen", "areas": ["SQ1", "SQ2"],
        "channel": "self"})
    assert refused.status_code == 400
    mgr1.post("/admin/links/bulk", data={
        "csrf_token": csrf_token(mgr1), "form_id": "kitchen", "areas": ["SQ1", "G1"],
        "channel": "self"})
    with office.app.app_context():
        made = sorted((link.area.code, link.surveyor_id, link.channel) for link in Link.select())
    assert made == [("G1", None, "self"), ("SQ1", None, "self")]


# Where codes point

@pytest.mark.parametrize("base, warning", [
    ("", "PUBLIC_BASE_URL is not set"),
    ("http://localhost:8000", "phones cannot open that"),
    ("http://127.0.0.1:8000", "phones cannot open that"),
    ("http://[::1]:8000", "phones cannot open that"),
    ("http://0.0.0.0:8000", "phones cannot open that"),
    ("http://192.168.1.20:8000", None),
    ("https://survey.example.org", None),
])
def test_the_links_page_warns_when_codes_would_point_at_this_computer(office, base, warning):
    office.app.config["PUBLIC_BASE_URL"] = base
    page = office.client("mgr1").get("/admin/links")
    assert page.status_code == 200
    if warning:
        assert warning in page.text
    else:
        assert 'id="base-warning"' not in page.text


def test_make_run_prints_the_address_phones_should_open(cli):
    result = cli("links", "address", "--bind", "0.0.0.0:8123", env={"PUBLIC_BASE_URL": ""})
    assert result.exit_code == 0
    url = re.search(r"Phones on the same network open: http://([\d.]+):8123/", result.output)
    assert url and ipaddress.ip_address(url.group(1)).version == 4
    assert "export PUBLIC_BASE_URL=" in result.output
    only_here = cli("links", "address", "--bind", "127.0.0.1:8000", env={"PUBLIC_BASE_URL": ""})
    assert "listens on 127.0.0.1 only" in only_here.output


def test_the_links_list_shows_scans_and_responses(office):
    link = make_link(office.app)
    phone = Visitor(office.app.test_client())
    phone.submit(f"/s/{link.token}", ANSWERS)
    page = office.client("mgr1").get("/admin/links")
    row = page.text.split(f'data-link="{link.id}"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'class="num">(\d+)<', row) == ["1", "1"]
    assert hidden(page.text, "csrf_token")
    assert KITCHEN_ANSWERS["name"] not in page.text
