"""Who may do what, and where: every role × every capability × things in every kind of place.

Areas JD > SQ1 > G1 and JD > SQ2 (the office fixture's). Holders: each role in SQ1 and without
an area. In each place (own SQ1, below G1, above JD, foreign SQ2, no area) there are an area, a QR
link, a surveyor and a manager account, a survey round (where there is an area), and submissions by nobody
and by each surveyor holder, recent and old. `can()` and the scoped queries must give exactly the
outcomes written out here. A round above one's own area may be viewed (its part), nothing more.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
from werkzeug.exceptions import NotFound

from service import links
from service.office import auth, policy
from service.reports import aggregate
from service.storage.db import db
from service.storage.models import Area, Household, Link, Submission, SurveyRound, User, utcnow

from .conftest import PASSWORD, use_database_of

PLACES = {"own": "SQ1", "below": "G1", "above": "JD", "foreign": "SQ2", "none": None}

# What each role may do, written out: the behaviour the views had when they listed roles.
MANAGER = {"responses.view", "responses.view_area", "responses.correct", "responses.reveal",
           "responses.status", "dashboard.view", "export", "export.pii", "links.manage",
           "users.manage", "users.assign.surveyor", "areas.manage", "households.view",
           "households.visit", "households.manage", "households.import", "rounds.view",
           "rounds.manage", "follow_ups.view", "follow_ups.manage"}
EXPECTED = {
    "admin": MANAGER | {"areas.all", "audit.view", "users.assign.admin", "users.assign.manager",
                        "forms.manage", "holidays.manage", "tokens.manage"},
    "manager": MANAGER,
    "surveyor": {"responses.view", "responses.correct", "households.visit"},
}

# holder: (role, home area, the places whose areas it reaches)
HOLDERS = {
    "admin": ("admin", None, set(PLACES)),
    "admin1": ("admin", "SQ1", set(PLACES)),
    "mgr1": ("manager", "SQ1", {"own", "below"}),
    "mgr0": ("manager", None, set()),
    "sv1": ("surveyor", "SQ1", {"own", "below"}),
    "sv0": ("surveyor", None, set()),
}

# every guarded office page and the capability it asks; the rest are open to anyone signed in
GUARDS = {
    "admin.audit_page": "audit.view", "admin.dashboard": "dashboard.view",
    "admin.tokens_page": "tokens.manage", "admin.token_new": "tokens.manage",
    "admin.token_revoke": "tokens.manage",
    "admin.export_file": "export", "admin.links_page": "links.manage",
    "admin.link_new": "links.manage", "admin.links_bulk": "links.manage",
    "admin.link_detail": "links.manage", "admin.link_action": "links.manage",
    "admin.link_qr": "links.manage", "admin.links_sheet": "links.manage",
    "admin.users": "users.manage", "admin.user_new": "users.manage",
    "admin.user_action": "users.manage", "admin.areas_page": "areas.manage",
    "admin.area_edit": "areas.manage", "admin.responses": "responses.view",
    "admin.response": "responses.view", "admin.correct": "responses.correct",
    "admin.change_status": "responses.status",
    "admin.households": "households.view", "admin.household": "households.view",
    "admin.household_resolve": "households.manage", "admin.household_merge": "households.manage",
    "admin.household_dismiss": "households.manage", "admin.household_status": "households.manage",
    "admin.households_import": "households.import", "admin.households_export": "export",
    "admin.households_stickers": "households.view", "admin.household_door": "households.view",
    "admin.rounds_page": "rounds.view", "admin.round_page": "rounds.view",
    "admin.round_not_yet": "rounds.view", "admin.round_new": "rounds.manage",
    "admin.round_assign": "rounds.manage", "admin.round_assign_list": "rounds.manage",
    "admin.round_close": "rounds.manage", "admin.round_report": "rounds.view",
    "admin.round_report_download": "rounds.view", "admin.round_report_questions": "rounds.manage",
    "admin.form_file": "dashboard.view",
    "admin.forms_page": "forms.manage", "admin.form_upload": "forms.manage",
    "admin.form_draft": "forms.manage", "admin.form_draft_phone": "forms.manage",
    "admin.form_publish": "forms.manage", "admin.form_discard": "forms.manage",
    "admin.form_close": "forms.manage", "admin.form_reopen": "forms.manage",
    "admin.follow_ups_page": "follow_ups.view", "admin.follow_ups_csv": "follow_ups.view",
    "admin.follow_up_page": "follow_ups.view", "admin.follow_up_action": "follow_ups.manage",
    "admin.follow_up_rosters": "follow_ups.view", "admin.follow_up_applications": "follow_ups.view",
    "admin.follow_up_applications_csv": "follow_ups.view",
    "admin.follow_up_holidays": "holidays.manage",
}
OPEN = {"admin.login", "admin.logout", "admin.password", "admin.home", "admin.static"}


def place_of(area_id) -> str:
    code = Area.get_by_id(area_id).code if area_id else None
    return next((p for p, c in PLACES.items() if c == code), "elsewhere")


@pytest.fixture(scope="module")
def world_once(office_once):
    """office_once plus the holders without an area, and things in every place."""
    from argon2 import PasswordHasher
    use_database_of(office_once.app)
    made = office_once
    made.links, made.households, made.rounds = {}, {}, {}
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    old = utcnow() - dt.timedelta(days=10)
    with made.app.app_context(), db.atomic():
        for username, (role, home, _reach) in HOLDERS.items():
            if username not in made.users:
                made.users[username] = User.create(username=username, role=role,
                                                   password_hash=cheap,
                                                   area=made.areas.get(home)).id
        for place, code in PLACES.items():
            for role in ("surveyor", "manager"):
                made.users[f"{role}@{place}"] = User.create(
                    username=f"{role}@{place}", role=role, password_hash=cheap,
                    area=made.areas.get(code)).id
            if code:
                made.links[place] = links.create("kitchen", Area[made.areas[code]]).id
                made.rounds[place] = SurveyRound.create(
                    name=f"round {place}", form_id="ledger", area=made.areas[code],
                    starts_on=dt.date(2026, 3, 1), ends_on=dt.date(2026, 3, 31)).id
            made.households[place] = Household.create(
                code=f"HH{len(made.households):02d}-2222", form_id="ledger",
                area=made.areas.get(code), door_token=f"door-{place}").id
            made.store(place, area=code)
            for by in ("sv1", "sv0"):
                made.store(f"{place}/{by}", channel="surveyor", area=code, surveyor=by)
                made.store(f"{place}/{by}/old", channel="surveyor", area=code, surveyor=by)
                Submission.update(received_at=old).where(
                    Submission.id == made.subs[f"{place}/{by}/old"]).execute()
    return made


@pytest.fixture
def world(world_once):
    use_database_of(world_once.app)
    with world_once.app.app_context(), db.connection_context():
        yield world_once


def holder(name) -> User:
    return User.get(User.username == name)


def views_round(name, place) -> bool:
    """In scope, or over an area above the holder's own (a community's part of the street's)."""
    role, home, reach = HOLDERS[name]
    return "rounds.view" in EXPECTED[role] and (place in reach or (place == "above" and
                                                                   home is not None))


def sees_submission(name, key) -> bool:
    """Admins and managers: by area; surveyors: their own of the last SURVEYOR_DAYS days."""
    role, _home, reach = HOLDERS[name]
    if role == "surveyor":
        return key.split("/")[1:] == [name]
    return key.split("/")[0] in reach


def manages(name, user: User) -> bool:
    role, _home, reach = HOLDERS[name]
    if role == "admin":
        return True
    return role == "manager" and user.role == "surveyor" and place_of(user.area_id) in reach


def test_the_table_is_the_roles_behaviour():
    assert {role: set(held) for role, held in policy.CAPABILITIES.items()} == EXPECTED
    assert set(policy.CAPABILITIES) == set(auth.ROLES)
    assert set().union(*EXPECTED.values()) == set(policy.ACTIONS)   # no capability unheld


@pytest.mark.parametrize("name", HOLDERS)
def test_each_holder_can_exactly_its_capabilities_in_its_scope(world, name):
    """Every capability alone, and on the area, link, submissions and accounts of each place."""
    me = holder(name)
    role, _home, reach = HOLDERS[name]
    things = [(f"area {p}", Area[world.areas[c]], p in reach) for p, c in PLACES.items() if c]
    things += [(f"link {p}", Link[i], p in reach) for p, i in world.links.items()]
    things += [(f"household {p}", Household[i], p in reach)
               for p, i in world.households.items()]
    things += [(f"submission {k}", Submission[i], sees_submission(name, k))
               for k, i in world.subs.items()]
    things += [(f"user {u.username}", u, manages(name, u)) for u in User.select()]
    wrong = []
    for action in policy.ACTIONS:
        allowed = action in EXPECTED[role]
        if policy.can(me, action) != allowed:
            wrong.append(f"{action}: {not allowed}")
        rounds = [(f"round {p}", SurveyRound[i], views_round(name, p) if action == "rounds.view"
                   else p in reach) for p, i in world.rounds.items()]
        for label, thing, in_scope in things + rounds:
            if policy.can(me, action, thing) != (allowed and in_scope):
                wrong.append(f"{action} on {label}: {not (allowed and in_scope)}")
    assert wrong == []


@pytest.mark.parametrize("name", HOLDERS)
def test_the_scoped_queries_list_exactly_what_can_reaches(world, name):
    me = holder(name)
    role, _home, reach = HOLDERS[name]
    assert {a.code for a in policy.visible_areas(me)} == {c for p, c in PLACES.items()
                                                          if c and p in reach}
    assert {s.id for s in policy.submissions_for(me)} == {
        i for k, i in world.subs.items() if sees_submission(name, k)}
    assert {link.id for link in policy.links_for(me)} == {
        i for p, i in world.links.items() if "links.manage" in EXPECTED[role] and p in reach}
    assert {u.username for u in policy.manageable_users(me)} == {
        u.username for u in User.select() if "users.manage" in EXPECTED[role] and manages(name, u)}
    assert {h.id for h in policy.households_for(me)} == {
        i for p, i in world.households.items() if p in reach}    # every role views or visits
    for place, i in world.households.items():
        if place in reach:
            assert policy.get_household_or_404(me, Household[i].code).id == i
        else:
            with pytest.raises(NotFound):
                policy.get_household_or_404(me, Household[i].code)
    for place, code in PLACES.items():
        if code and place not in reach:
            with pytest.raises(NotFound):
                policy.get_area_or_404(me, code)
        elif code:
            assert policy.get_area_or_404(me, code).code == code
    assert policy.sees_area(me, None) == ("none" in reach)
    assert {r.id for r in policy.rounds_for(me)} == {
        i for p, i in world.rounds.items() if views_round(name, p)}
    for place, i in world.rounds.items():
        for action in ("rounds.view", "rounds.manage"):
            if (views_round(name, place) if action == "rounds.view" else
                    action in EXPECTED[role] and place in reach):
                assert policy.get_round_or_404(me, i, action).id == i
            else:
                with pytest.raises(NotFound):
                    policy.get_round_or_404(me, i, action)


def test_roles_assignable_and_who_needs_an_area(world):
    assert [policy.roles_assignable(holder(n)) for n in ("admin", "mgr1", "sv1")] == [
        ("admin", "manager", "surveyor"), ("surveyor",), ()]
    assert [policy.needs_area(r) for r in ("admin", "manager", "surveyor", "nope")] == [
        False, True, True, True]


def test_a_manager_without_an_area_sees_nothing_on_the_dashboard(world):
    """The bug this module fixed: the dashboard's own scope restricted nothing for them."""
    spec = world.app.extensions["doorstep.catalog"].get("kitchen")
    valid = Submission.select().where((Submission.form_id == "kitchen") &
                                      (Submission.status == "valid")).count()

    def figures(name, **filters):
        return aggregate.build(spec, holder(name), aggregate.Filters(**filters))
    assert figures("admin").total == figures("admin1").total == valid
    assert figures("mgr1").total == len([k for k in world.subs
                                         if k.split("/")[0] in ("own", "below")])
    board = figures("mgr0")
    assert (board.total, board.by_area, board.by_surveyor) == (0, [], [])
    assert aggregate.latest_texts(spec, holder("mgr0"), aggregate.Filters()) == {}
    assert Submission.select().where(aggregate.submission_condition(
        spec, holder("mgr0"), aggregate.Filters())).count() == 0        # what an export reads
    # an area the holder does not reach, passed in directly, counts nothing either
    assert figures("mgr1", area=Area[world.areas["SQ2"]]).total == 0


def test_the_pages_agree(world_once):
    """The dashboard page, and the office's menu: it offers what the Jinja global `can` allows."""
    world = world_once
    use_database_of(world.app)     # no app context held open: each request makes its own
    page = world.client("mgr0").get("/admin/forms/kitchen")
    assert int(re.search(r'class="big"><strong>(\d+)</strong>', page.text).group(1)) == 0
    nav = {name: world.client(name).get("/admin/").text for name in ("admin", "mgr1", "sv1")}
    for name, text in nav.items():
        role = HOLDERS[name][0]
        for endpoint, action in (("users", "users.manage"), ("areas", "areas.manage"),
                                 ("links", "links.manage"), ("audit", "audit.view")):
            assert (f'href="/admin/{endpoint}"' in text) == (action in EXPECTED[role]), (name,
                                                                                       endpoint)


def test_every_office_page_asks_the_policy(world):
    guards = {endpoint: getattr(view, "capability", None)
              for endpoint, view in world.app.view_functions.items()
              if endpoint.startswith("admin.")}
    assert {e: c for e, c in guards.items() if c} == GUARDS
    assert {e for e, c in guards.items() if not c} <= OPEN


def test_system_and_grants_hold_capabilities_like_a_role(world):
    """The command line (SYSTEM) may do everything everywhere; an API token will be a Grant."""
    assert all(policy.can(policy.SYSTEM, action) for action in policy.ACTIONS)
    assert policy.can(policy.SYSTEM, "export.pii", Submission[world.subs["none"]])
    assert policy.submissions_for(policy.SYSTEM).count() == Submission.select().count()
    token = policy.Grant("token", frozenset({"responses.view", "responses.view_area", "export"}),
                         area=Area[world.areas["SQ1"]])
    assert policy.can(token, "export") and not policy.can(token, "links.manage")
    assert not policy.can(token, "export", Area[world.areas["SQ2"]])
    assert {s.id for s in policy.submissions_for(token)} == {
        i for k, i in world.subs.items() if k.split("/")[0] in ("own", "below")}
    assert policy.links_for(token).count() == 0


def test_managers_manage_forms_only_when_the_setting_says_so(world):
    """MANAGERS_MAY_PUBLISH_FORMS=1 gives managers forms.manage; nobody else gains anything."""
    assert not policy.can(holder("mgr1"), "forms.manage")
    world.app.config["MANAGERS_MAY_PUBLISH_FORMS"] = True
    try:
        assert policy.can(holder("mgr1"), "forms.manage")
        assert policy.capabilities_of(holder("mgr1")) == EXPECTED["manager"] | {"forms.manage"}
        assert not policy.can(holder("sv1"), "forms.manage")
        assert policy.capabilities_of(holder("admin")) == EXPECTED["admin"]
    finally:
        world.app.config["MANAGERS_MAY_PUBLISH_FORMS"] = False
    assert not policy.can(holder("mgr1"), "forms.manage")


def test_nobody_and_unknown_names_hold_nothing(world):
    assert not policy.can(None, "responses.view")
    assert policy.capabilities_of(User(role="auditor")) == frozenset()
    with pytest.raises(ValueError):
        policy.can(holder("admin"), "responses.delete")
    with pytest.raises(ValueError):
        policy.requires("responses.delete")
    with pytest.raises(TypeError):
        policy.can(holder("admin"), "responses.view", "a string")
