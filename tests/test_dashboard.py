"""The dashboard's figures on a small data set whose every figure is counted by hand below.

Six valid households of tests/forms/survey.yaml, one voided and one duplicate (which must never
count), received at known moments (the `clock` fixture) in the office fixture's areas:
JD (街道) > SQ1 > G1 and JD > SQ2, plus one household with no area.
"""
from __future__ import annotations

import datetime as dt
import re

from collections import Counter

import pytest
from werkzeug.exceptions import NotFound

from service.reports import aggregate
from service.records import submissions, tally
from service.admin.dashboard import parse_filters
from service.storage.db import db
from service.storage.models import Answer, Submission, User

from .conftest import PASSWORD, ROOT, csrf_token, use_database_of

UTC = dt.datetime

# key: area, channel, surveyor, received (UTC), answers
HOUSEHOLDS = {
    "s1": ("SQ1", "surveyor", "sv1", UTC(2026, 3, 1, 15, 30),    # 23:30 in Beijing: 1 March
           {"name": "张三", "housing": "own", "needs": ["job", "training"], "size": 3,
            "income": "1000.5", "visited": "2026-01-15", "remark": "需要帮助",
            "members": [{"mname": "张一", "age": 40, "sex": "m"},
                        {"mname": "张二", "age": 10, "sex": "f"}]}),
    "s2": ("G1", "self", None, UTC(2026, 3, 1, 16, 30),          # 00:30 in Beijing: 2 March
           {"name": "李四", "housing": "rent", "needs": ["job"], "size": 5, "income": "2000",
            "visited": "2026-02-01", "members": [{"mname": "李一", "age": 70, "sex": "f"}]}),
    "s3": ("SQ1", "surveyor", "sv1", UTC(2026, 3, 2, 2, 0),
           {"name": "王五", "housing": "own", "size": 1, "visited": "2026-02-20",
            "members": [{"mname": "王一", "age": 30, "sex": "m"},
                        {"mname": "王二", "age": 28, "sex": "f"}, {"mname": "王三", "age": 2}]}),
    "s4": ("SQ2", "web", "sv2", UTC(2026, 3, 3, 1, 0),
           {"housing": "other", "needs": ["loan"], "size": 2, "income": "500",
            "members": [{"mname": "赵一", "age": 50, "sex": "m"}]}),
    "s5": ("SQ2", "web", None, UTC(2026, 3, 4, 1, 0),
           {"name": "钱五", "needs": ["training", "loan"], "size": 4, "income": "1500",
            "visited": "2026-03-01", "members": [{"mname": "钱一", "age": 8, "sex": "m"}]}),
    "s6": (None, "web", None, UTC(2026, 3, 4, 2, 0),
           {"name": "孙七", "housing": "rent", "needs": ["job"], "size": 2, "income": "-200",
            "visited": "2026-02-10", "remark": "孩子上学难"}),
    "void": ("SQ1", "web", None, UTC(2026, 3, 2, 3, 0),
             {"name": "周八", "housing": "own", "needs": ["job", "training", "loan"], "size": 99,
              "income": "99999", "visited": "2025-12-01",
              "members": [{"mname": "周一", "age": 99, "sex": "f"}]}),
    "dup": ("SQ2", "web", "sv2", UTC(2026, 3, 3, 2, 0),
            {"name": "赵一", "housing": "other", "size": 98,
             "members": [{"mname": "赵一", "age": 50, "sex": "m"}]}),
}


def load_survey(office, set_clock):
    """The households above stored as the public form stores them; `void` and `dup` then marked."""
    from argon2 import PasswordHasher
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with office.app.app_context(), db.connection_context():
        office.users["sv2"] = User.create(username="sv2", role="surveyor", password_hash=cheap,
                                          area=office.areas["SQ2"]).id
        for key, (area, channel, surveyor, moment, answers) in HOUSEHOLDS.items():
            set_clock(moment)
            office.store(key, "survey", answers, channel=channel, area=area, surveyor=surveyor)
        admin = User.get(User.username == "admin")
        for key, status in (("void", "void"), ("dup", "duplicate")):
            submissions.set_status(Submission[office.subs[key]], status, "test", admin)
    return office


@pytest.fixture(scope="module")
def survey_once(office_once):
    use_database_of(office_once.app)
    with pytest.MonkeyPatch.context() as patch:
        return load_survey(office_once, lambda moment: patch.setattr(
            submissions, "utcnow", lambda: moment))


@pytest.fixture
def survey(survey_once):
    """The data set, made once for the tests that only read it."""
    use_database_of(survey_once.app)
    return survey_once


@pytest.fixture
def changing(office, clock):
    """The same data set in the test's own database, for tests that change it."""
    return load_survey(office, clock)


def figures(office, username="admin", **args) -> aggregate.Dashboard:
    """The dashboard's figures for a user and query string, as the page computes them."""
    app = office.app
    with app.test_request_context("/", query_string=args), db.connection_context():
        user = User.get(User.username == username)
        spec = app.extensions["doorstep.catalog"].get("survey")
        return aggregate.build(spec, user, parse_filters(user, spec))


def stats(board, name) -> aggregate.QuestionStats:
    for st in board.questions:
        if st.q.name == name:
            return st
        for child in st.children:
            if child.q.name == name:
                return child
    raise KeyError(name)


def choices(board, name) -> dict:
    st = stats(board, name)
    return {**{c.value: (n, pct) for c, n, pct in st.choices}, None: st.no_answer}


def areas(board) -> list:
    return [(a.code if a else None, n, deeper) for a, n, deeper in board.by_area]


def surveyors(board) -> dict:
    return {u.username if u else None: n for u, n in board.by_surveyor}


def total(page) -> int:
    return int(re.search(r'class="big"><strong>(\d+)</strong>', page.text).group(1))


# Totals

def test_totals_per_day_channel_and_surveyor_match_the_hand_counts(survey):
    board = figures(survey)
    assert board.total == 6
    assert board.by_day == [("2026-03-01", 1), ("2026-03-02", 2), ("2026-03-03", 1),
                            ("2026-03-04", 2)]
    assert dict(board.by_channel) == {"surveyor": 2, "self": 1, "web": 3}
    assert surveyors(board) == {"sv1": 2, "sv2": 1, None: 3}


def test_a_day_is_the_office_day_in_beijing_not_the_utc_day(survey):
    """23:30 Beijing time on 1 March is 1 March; 16:30 UTC on 1 March is already 2 March."""
    with survey.app.app_context(), db.connection_context():
        assert Submission[survey.subs["s1"]].day == "2026-03-01"
        assert Submission[survey.subs["s2"]].day == "2026-03-02"
    assert figures(survey, since="2026-03-01", until="2026-03-01").total == 1
    assert figures(survey, since="2026-03-02", until="2026-03-02").total == 2


def test_areas_are_counted_one_level_below_with_drill_down(survey):
    assert areas(figures(survey)) == [("JD", 5, True), (None, 1, False)]   # s6 has no area
    assert areas(figures(survey, area="JD")) == [("SQ1", 3, True), ("SQ2", 2, False)]
    # SQ1's own households apart from those of its grid G1
    assert areas(figures(survey, area="SQ1")) == [("G1", 1, False), ("SQ1", 2, False)]
    assert areas(figures(survey, area="G1")) == [("G1", 1, False)]


def test_the_drill_down_links_on_the_page_keep_the_other_filters(survey):
    page = survey.client("admin").get("/admin/forms/survey?channel=web")
    assert page.status_code == 200
    assert 'href="/admin/forms/survey?channel=web&amp;area=JD"' in page.text
    assert total(survey.client("admin").get("/admin/forms/survey?area=JD")) == 5


# Per question

def test_choice_questions_count_each_choice_with_no_answer_apart(survey):
    board = figures(survey)
    assert choices(board, "housing") == {"own": (2, 33.3), "rent": (2, 33.3),
                                         "other": (1, 16.7), None: 1}
    # several answers possible: percentages of households, adding up to more than 100
    assert choices(board, "needs") == {"job": (3, 50.0), "training": (2, 33.3),
                                       "loan": (2, 33.3), None: 1}
    assert stats(board, "needs").answered == 5


def test_numbers_have_count_mean_median_min_max_and_a_histogram(survey):
    board = figures(survey)
    size = stats(board, "size")
    # 1 2 2 3 4 5: an even count, the median is the mean of the middle two
    assert size.numbers == {"count": 6, "mean": pytest.approx(17 / 6), "median": 2.5,
                            "min": 1, "max": 5}
    assert size.histogram == [("1", 1), ("2", 2), ("3", 1), ("4", 1), ("5", 1)]
    income = stats(board, "income")
    # -200 500 1000.5 1500 2000: an odd count, the middle one; s3 gave no income
    assert income.numbers == {"count": 5, "mean": pytest.approx(960.1), "median": 1000.5,
                              "min": -200, "max": 2000}
    assert income.no_answer == 1
    assert income.histogram == [("-500–0", 1), ("0–500", 0), ("500–1000", 1),
                                ("1000–1500", 1), ("1500–2000", 1), ("2000–2500", 1)]
    # an odd count of integers: SQ1 and its grid have sizes 3, 5, 1
    assert stats(figures(survey, area="SQ1"), "size").numbers["median"] == 3


def test_dates_are_counted_per_month(survey):
    visited = stats(figures(survey), "visited")
    assert visited.months == [("2026-01", 1), ("2026-02", 3), ("2026-03", 1)]
    assert visited.no_answer == 1


def test_text_counts_answers_and_the_page_shows_the_latest_masked_when_pii(survey):
    board = figures(survey)
    assert (stats(board, "name").answered, stats(board, "name").no_answer) == (5, 1)
    assert stats(board, "remark").answered == 2
    page = survey.client("admin").get("/admin/forms/survey")
    names = re.search(r'id="q-name".*?<ul class="latest">(.*?)</ul>', page.text, re.S).group(1)
    assert re.findall(r"<li>([^<]*)</li>", names) == ["孙*", "钱*", "王*", "李*", "张*"]
    for name in ("孙七", "钱五", "王五", "李四", "张三", "张一", "周八"):
        assert name not in page.text
    assert "孩子上学难" in page.text and "需要帮助" in page.text    # remarks are not pii


def test_repeat_groups_count_items_and_break_down_their_questions(survey):
    members = stats(figures(survey), "members")
    assert members.answered == 5                         # s6 registered no members
    assert members.sizes == [(1, 3), (2, 1), (3, 1)]     # households by number of members
    assert members.items == 8
    age = stats(figures(survey), "age")
    # 2 8 10 28 30 40 50 70
    assert age.numbers == {"count": 8, "mean": 29.75, "median": 29, "min": 2, "max": 70}
    assert age.histogram == [("0–9", 2), ("10–19", 1), ("20–29", 1), ("30–39", 1),
                             ("40–49", 1), ("50–59", 1), ("60–69", 0), ("70–79", 1)]
    # percentages of members, not of households; 王三's sex was not given
    assert choices(figures(survey), "sex") == {"m": (4, 50.0), "f": (3, 37.5), None: 1}
    assert stats(figures(survey), "mname").answered == 8


# Filters

def test_each_filter_narrows_every_figure(survey):
    sq1 = figures(survey, area="SQ1")          # SQ1 with its grid G1
    assert sq1.total == 3
    assert choices(sq1, "housing") == {"own": (2, 66.7), "rent": (1, 33.3), "other": (0, 0.0),
                                       None: 0}
    assert stats(sq1, "members").items == 6
    window = figures(survey, since="2026-03-02", until="2026-03-03")
    assert window.total == 3 and window.by_day == [("2026-03-02", 2), ("2026-03-03", 1)]
    assert stats(window, "size").numbers["median"] == 2     # 5, 1, 2
    web = figures(survey, channel="web")
    assert web.total == 3 and surveyors(web) == {"sv2": 1, None: 2}
    by_sv1 = figures(survey, surveyor="sv1")
    assert by_sv1.total == 2 and choices(by_sv1, "housing")["own"] == (2, 100.0)
    assert figures(survey, version="1").total == 6 and figures(survey, version="2").total == 0


def test_filtering_by_an_answer_counts_the_households_that_gave_it(survey):
    own = figures(survey, q="housing", v="own")
    assert own.raw and own.total == 2
    assert choices(own, "needs") == {"job": (1, 50.0), "training": (1, 50.0), "loan": (0, 0.0),
                                     None: 1}
    assert stats(own, "members").sizes == [(2, 1), (3, 1)]
    assert stats(own, "age").numbers["median"] == 28
    # an answer inside a repeat group: households with at least one such member
    assert figures(survey, q="sex", v="f").total == 3


def test_raw_counting_that_outlasts_its_time_is_stopped_and_the_page_says_so(survey,
                                                                           monkeypatch):
    """Raw counting at a million submissions can take longer than gunicorn lets a worker live:
    past DASHBOARD_SECONDS the database stops the query (SQLite interrupts it, PostgreSQL cancels
    it) and the page explains, instead of the request being killed. The connection stays usable."""
    finished = []
    real_values = aggregate.RawSource.values

    def slow_values(self):
        db.execute_sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                       "WHERE x < 300000000) SELECT count(*) FROM c").fetchone()
        finished.append(True)
        return real_values(self)
    monkeypatch.setattr(aggregate.RawSource, "values", slow_values)
    monkeypatch.setitem(survey.app.config, "DASHBOARD_SECONDS", 0.5)
    admin = survey.client("admin")
    page = admin.get("/admin/forms/survey?q=housing&v=own")
    assert page.status_code == 200 and not finished
    assert "takes too long for this many responses" in page.text
    assert 'name="q"' in page.text                       # the filters are there to narrow it
    monkeypatch.setattr(aggregate.RawSource, "values", real_values)
    again = admin.get("/admin/forms/survey?q=housing&v=own")
    assert again.status_code == 200 and "takes too long" not in again.text
    assert re.search(r'class="big"><strong>2</strong>', again.text)


def test_counting_raw_answers_gives_exactly_the_tallies_figures(survey):
    """The households that answered `own` are exactly those visited by a surveyor, so the answer
    filter (counted from raw answers: the tally cannot filter by an answer) and the channel filter
    (answers tallied per month, area and channel) must agree on every figure."""
    by_answer = figures(survey, q="housing", v="own")
    by_channel = figures(survey, channel="surveyor")
    assert by_answer.raw and not by_channel.raw and not figures(survey).raw
    for name in ("total", "by_area", "by_day", "by_channel", "by_surveyor", "questions"):
        assert getattr(by_answer, name) == getattr(by_channel, name), name


@pytest.mark.parametrize("username, args", [
    ("admin", {}), ("admin", {"area": "SQ1"}), ("admin", {"since": "2026-03-02"}),
    ("admin", {"channel": "web"}), ("admin", {"surveyor": "sv2"}), ("mgr1", {}),
    ("mgr2", {"until": "2026-03-03"}), ("admin", {"since": "2026-03-01", "until": "2026-03-31"}),
    ("mgr1", {"until": "2026-02-28"}),
])
def test_both_sources_count_alike_under_any_filter(survey, username, args):
    app = survey.app
    with app.test_request_context("/", query_string=args), db.connection_context():
        user = User.get(User.username == username)
        spec = app.extensions["doorstep.catalog"].get("survey")
        filters = parse_filters(user, spec)
        raw, tallied = aggregate.RawSource(spec, user, filters), \
            aggregate.TallySource(spec, user, filters)
        if aggregate.answers_tallied(filters):    # answers are tallied per month: dates as months
            dates = {q.name for q in spec.all_questions() if q.type == "date"}
            monthly = Counter()
            for (name, value), n in raw.values().items():
                monthly[(name, value[:7] if name in dates else value)] += n
            assert monthly == tallied.values()
        for dim in ("area_id", "day", "channel", "surveyor_id"):
            assert raw.by(dim) == tallied.by(dim), dim


def test_raw_counts_hold_for_large_submission_ids(app):
    """The answer filter's counts of distinct (submission, item) pairs must not overflow
    PostgreSQL's 32-bit integers once ids pass 21,474 (x 100,000)."""
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        Submission.insert(id=3_000_000, uuid="00000000-0000-4000-8000-000000000001",
                          receipt="BIG1-BIG1", form_id="survey", form_version=1, day="2026-03-01",
                          answers="{}").execute()
        Answer.create(submission=3_000_000, form_id="survey", question="housing", value="own")
        admin = User.create(username="admin", role="admin", password_hash="-")
        raw = aggregate.RawSource(spec, admin, aggregate.Filters(answer=("housing", "own")))
        assert raw.values() == {("housing", ""): 1, ("housing", "own"): 1}


# Data that changes

def test_voided_and_duplicate_households_never_count_and_a_restored_one_counts_again(changing):
    board = figures(changing)
    assert stats(board, "size").numbers["max"] == 5          # not 99 (void) nor 98 (duplicate)
    assert stats(board, "age").numbers["max"] == 70
    admin = changing.client("admin")
    restored = admin.post(f"/admin/responses/{changing.subs['void']}/status/valid",
                          data={"reason": "not a test after all", "csrf_token": csrf_token(admin)})
    assert restored.status_code == 302
    board = figures(changing)
    assert board.total == 7
    assert stats(board, "size").numbers["max"] == 99
    assert choices(board, "housing")["own"] == (3, 42.9)
    assert stats(board, "members").items == 9


def test_corrected_answers_count_with_their_corrected_value(changing):
    admin = changing.client("admin")
    token = csrf_token(admin)

    def correct(key, question, value, item=None):
        path = f"/admin/responses/{changing.subs[key]}/correct/{question}"
        page = admin.post(path + ("" if item is None else f"?item={item}"),
                          data={"value": value, "reason": "checked at the door",
                                "csrf_token": token})
        assert page.status_code == 302, page.text

    correct("s4", "housing", "rent")
    correct("s3", "needs", ["loan"])
    correct("s2", "age", "7", item=0)          # 李一 is 7, not 70
    correct("void", "size", "9")               # corrected while void: not counted yet
    board = figures(changing)
    assert choices(board, "housing") == {"own": (2, 33.3), "rent": (3, 50.0),
                                         "other": (0, 0.0), None: 1}
    assert choices(board, "needs") == {"job": (3, 50.0), "training": (2, 33.3),
                                       "loan": (3, 50.0), None: 0}
    assert stats(board, "age").numbers == {"count": 8, "mean": 21.875, "median": 19,
                                           "min": 2, "max": 50}
    assert stats(board, "size").numbers["max"] == 5
    with changing.app.app_context():
        submissions.set_status(Submission[changing.subs["void"]], "valid", "restored",
                               User.get(User.username == "admin"))
    after = figures(changing)
    assert stats(after, "size").numbers["max"] == 9   # counts with its corrected value
    with changing.app.app_context(), db.connection_context():   # the running tallies are exact:
        tally.rebuild(changing.app.extensions["doorstep.catalog"], "survey")
    assert figures(changing) == after


# Who sees what

def test_a_manager_sees_only_their_areas_figures(survey):
    board = figures(survey, "mgr1")
    assert board.total == 3
    assert areas(board) == [("G1", 1, False), ("SQ1", 2, False)]
    assert surveyors(board) == {"sv1": 2, None: 1}
    assert figures(survey, "mgr1", area="G1").total == 1
    assert figures(survey, "mgr2").total == 2
    for outside in ("SQ2", "JD", "NOWHERE"):
        with pytest.raises(NotFound):
            figures(survey, "mgr1", area=outside)
    with pytest.raises(NotFound):
        figures(survey, "mgr1", surveyor="sv2")              # another area's surveyor
    manager = survey.client("mgr1")
    assert total(manager.get("/admin/forms/survey")) == 3
    assert manager.get("/admin/forms/survey?area=SQ2").status_code == 404
    assert manager.get("/admin/forms/survey?surveyor=sv2").status_code == 404


def test_the_page_is_for_admins_and_managers_only(survey):
    assert survey.client("admin").get("/admin/forms/survey").status_code == 200
    assert survey.client("mgr2").get("/admin/forms/survey").status_code == 200
    assert survey.client("sv1").get("/admin/forms/survey").status_code == 404
    assert survey.client("admin").get("/admin/forms/nope").status_code == 404
    assert survey.client().get("/admin/forms/survey").status_code == 302   # sign in first
    assert survey.client("admin").get("/admin/forms/survey?lang=zh").status_code == 200
    for spec in survey.app.extensions["doorstep.catalog"]:      # forms with no responses yet
        assert survey.client("admin").get(f"/admin/forms/{spec.id}").status_code == 200


def test_every_chart_is_inline_svg_with_its_figures_table_and_nothing_is_loaded(survey):
    page = survey.client("admin").get("/admin/forms/survey").text
    charts = page.split("<svg")[1:]
    # by area, by day, five questions, the repeat group's sizes and its two counted questions
    assert len(charts) == 10
    for chart in charts:
        assert '<table class="figures' in chart.split("</section>")[0], chart[:200]
    # no chart library: the only script is the office's own (its filter's select, print buttons)
    assert re.findall(r'<script src="([^"?]+)', page) == ["/static/admin.js"]
    for address in re.findall(r'(?:src|href|action)="([^"]*)"', page):
        assert not re.match(r"^(https?:)?//", address), address
    assert "@import" not in page and "url(http" not in page
    assert re.search(r'<td>Own home</td><td class="num">2</td><td class="num">33.3</td>', page)
    assert re.search(r'<td>No answer</td><td class="num">1</td><td class="num">16.7</td>', page)


CHART_BLUE = (0x0B, 0x5C, 0xAD)     # `.chart rect` and `.chart .line` in static/admin.css


def chart_pixels(svg: str) -> int:
    """How many pixels of a chart, drawn 600 px wide with the office stylesheet's rules for what
    is inside a chart, are the chart's blue: its bars, columns or line, not its text or axis."""
    import io

    import cairosvg
    from PIL import Image
    css = "".join(re.findall(r"^\.chart\s[^{]*\{[^}]*\}", (ROOT / "static" / "admin.css")
                             .read_text(encoding="utf-8"), re.M))
    assert ".chart rect" in css and ".chart .line" in css
    alone = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)   # off the page
    styled = re.sub(r"(<svg[^>]*>)", lambda m: f"{m.group(1)}<style>{css}</style>", alone, count=1)
    png = cairosvg.svg2png(bytestring=styled.encode(), output_width=600,
                           background_color="white")
    rgb = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    return sum(1 for pixel in zip(rgb[0::3], rgb[1::3], rgb[2::3])
               if all(abs(a - b) <= 30 for a, b in zip(pixel, CHART_BLUE)))


def by_day_chart(page: str) -> str:
    return re.search(r"<h2>By day</h2>\s*(<svg.*?</svg>)", page, re.S).group(1)


def test_a_per_day_chart_of_a_single_day_shows_that_day(office, clock):
    """Every answer on one day makes a per-day chart of one point, and a line through one point
    draws nothing: the day must still be visible, with its date under it."""
    for hour in (1, 3, 9):
        clock(UTC(2026, 3, 5, hour))
        office.store(f"h{hour}", "survey", {"housing": "own", "size": 2})
    assert figures(office).by_day == [("2026-03-05", 3)]
    page = office.client("admin").get("/admin/forms/survey").text
    chart = by_day_chart(page)
    assert ">2026-03-05</text>" in chart
    assert chart_pixels(chart) >= 400          # a mark of at least 20 x 20 px, not an empty frame


def test_a_per_day_chart_of_several_days_draws_its_line(survey):
    """The same measure on the hand-counted data set (four days): the line is there."""
    page = survey.client("admin").get("/admin/forms/survey").text
    assert chart_pixels(by_day_chart(page)) >= 400
