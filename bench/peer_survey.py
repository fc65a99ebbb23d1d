"""The open-source peer for the submission benchmark: django-survey-and-report (PyPI), the Django
survey app, set up as its own documentation says (a Django project with `survey` in
INSTALLED_APPS and `survey.urls` under /survey/) and served by gunicorn with Doorstep's
gunicorn.conf.py.

Everything lives in a temporary folder made for the run:
- a virtualenv of its own (`python3 -m venv`, then pip: the package, the Django it pulls in, and
  the gunicorn version the project itself runs), never the project's venv;
- a minimal Django project (settings, urls, wsgi) written by `write_project`: Django's
  `startproject` defaults (sessions, auth, CSRF, messages middleware), DEBUG off, SQLite in WAL mode;
- a SQLite database, migrated, holding one survey of 20 questions of the kinds the package offers
  (short text, text, integer, float, date, radio, select, select multiple), all on one page.

How the package takes a submission (survey/views/survey_detail.py, survey/forms.py): the form is
`GET /survey/<id>/`; a post to the same URL builds `ResponseForm` (one Django form field
`question_<pk>` per question; choice values are the slugified choices), validates it, saves one
`Response` and one `Answer` per answered question (each `Answer` save looks its question up
again), and answers `302` to `/survey/confirm/<uuid>/`. An invalid post answers `200` with the
form again. CSRF: the `csrftoken` cookie and the `csrfmiddlewaretoken` field.

Settings chosen for the peer, each in its favour where there was a choice (so that the ratio is
not flattered):
- persistent connections (`CONN_MAX_AGE = None`; Doorstep pools its connections): closing the
  last SQLite connection checkpoints the WAL into the file on every request;
- SQLite `journal_mode=WAL`, `synchronous=FULL` and a 30 s busy timeout, as Doorstep's;
- a valid response saved in one transaction (as Doorstep stores a submission in one), the only
  code beside the settings: urls.py routes the survey's URL to a subclass of the package's view
  whose `treat_valid_form` (the saving) runs in `transaction.atomic()`. As shipped, each of the
  21 INSERTs is its own commit with its own fsync; Django's ATOMIC_REQUESTS would hold SQLite's
  write lock for the whole view (validation and page included). Both were slower (bench/README.md).
  Transactions start with `BEGIN IMMEDIATE` (Django's `transaction_mode` option), as concurrent
  writers otherwise fail with "database is locked" when a read transaction upgrades to write.

    python bench/peer_survey.py DIR      # install and set up in DIR, print the form URL path and fields
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "django-survey-and-report==1.5.0"
# transaction_mode (BEGIN IMMEDIATE on SQLite) is Django 5.1's
DJANGO = "Django>=5.1,<7"

SETTINGS = '''\
"""Minimal Django project for the peer benchmark (written by bench/peer_survey.py)."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-benchmark-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "survey",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "peerproj.urls"
WSGI_APPLICATION = "peerproj.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("PEER_DATABASE", str(BASE_DIR / "peer.db")),
    "CONN_MAX_AGE": None,
    "OPTIONS": {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    },
}}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
'''

URLS = '''\
from django.db import transaction
from django.urls import include, path, re_path

from survey.views import SurveyDetail


class AtomicSave(SurveyDetail):
    """The package's view, saving a valid response in one transaction."""

    def treat_valid_form(self, *args, **kwargs):
        with transaction.atomic():
            return super().treat_valid_form(*args, **kwargs)


urlpatterns = [
    re_path(r"^survey/(?P<id>\\d+)/$", AtomicSave.as_view(), name="survey-detail"),
    path("survey/", include("survey.urls")),
]
'''

WSGI = '''\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerproj.settings")
application = get_wsgi_application()
'''

# Run with the peer's Python: migrate, make the survey, print its id and a valid answer.
MAKE_SURVEY = '''\
import datetime as dt
import json
import os
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerproj.settings")
django.setup()
from django.core.management import call_command
from django.utils.text import slugify

from survey.models import Question, Survey

call_command("migrate", verbosity=0, interactive=False)
survey = Survey.objects.create(
    name="Household situation", description="Twenty questions at the door.",
    is_published=True, need_logged_user=False, editable_answers=True,
    display_method=Survey.ALL_IN_ONE_PAGE,
    expire_date=dt.date.today() + dt.timedelta(days=365))
QUESTIONS = json.loads(sys.argv[1])
fields = []
for order, (kind, text, choices, required, answer) in enumerate(QUESTIONS, 1):
    question = Question.objects.create(
        survey=survey, text=text, order=order, required=required, type=kind,
        choices=",".join(choices) if choices else None)
    values = answer if isinstance(answer, list) else [answer]
    if choices:
        values = [slugify(value, allow_unicode=True) for value in values]
    fields += [(f"question_{question.pk}", str(value)) for value in values]
print(json.dumps({"survey": survey.pk, "fields": fields}))
'''

# The 20 questions: (type, text, choices, required, the answer every post gives)
QUESTIONS = [
    ("short-text", "Name of the person answering", None, True, "王伟"),
    ("short-text", "Street and house number", None, True, "幸福路 12 号 3 单元 401"),
    ("short-text", "Phone number", None, False, "13800138000"),
    ("date", "Date of the visit", None, True, "2026-11-30"),
    ("integer", "How many people live in this household?", None, True, 4),
    ("integer", "How many of them are under 16?", None, True, 1),
    ("float", "Monthly household income (thousand yuan)", None, True, 6.5),
    ("radio", "Type of dwelling", ["House", "Apartment", "Dormitory", "Other"], True, "Apartment"),
    ("radio", "The dwelling is", ["Owned", "Rented", "Provided by employer", "Other"], True, "Rented"),
    ("radio", "Running water inside the dwelling", ["Yes", "No"], True, "Yes"),
    ("radio", "Anyone in the household with a disability", ["Yes", "No", "Prefers not to say"],
     True, "No"),
    ("select", "Employment of the head of household",
     ["Employed", "Self-employed", "Unemployed", "Retired", "Student", "Other"], True, "Employed"),
    ("select", "Highest education in the household",
     ["None", "Primary", "Lower secondary", "Upper secondary", "Vocational", "University"],
     True, "Upper secondary"),
    ("select", "Main source of income",
     ["Wages", "Business", "Pension", "Social assistance", "Family support", "Other"],
     True, "Wages"),
    ("select", "How long at this address", ["Under 1 year", "1-5 years", "Over 5 years"],
     True, "1-5 years"),
    ("select-multiple", "Support the household receives",
     ["Minimum living allowance", "Housing subsidy", "Medical assistance", "Education grant",
      "None"], True, ["Housing subsidy", "Education grant"]),
    ("select-multiple", "Support the household would like",
     ["Job referral", "Skills training", "Childcare", "Elderly care", "Legal advice"],
     True, ["Job referral", "Skills training"]),
    ("select-multiple", "Assets owned",
     ["Refrigerator", "Washing machine", "Computer", "Car", "Motorbike", "Air conditioner"],
     False, ["Refrigerator", "Washing machine", "Air conditioner"]),
    ("text", "Main difficulties the household faces", None, False,
     "收入不稳定，孩子上学费用较高，希望得到技能培训和就业推荐。"),
    ("text", "Notes by the visitor", None, False, "下午入户，户主在家，资料齐全。"),
]


def versions() -> dict[str, str]:
    """The project's gunicorn version: the peer runs the same."""
    return {"gunicorn": metadata.version("gunicorn")}


def install(folder: Path) -> Path:
    """A virtualenv in `folder` with the peer, its Django and the project's gunicorn; its bin/.
    Stops the benchmark with pip's own words if the install fails."""
    venv = folder / "venv"
    bin_ = venv / "bin"
    if (bin_ / "gunicorn").exists() and _installed(bin_):
        return bin_
    done = subprocess.run(["python3", "-m", "venv", str(venv)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python3 -m venv {venv} failed:\n{done.stdout}\n{done.stderr}")
    done = subprocess.run(
        [str(bin_ / "pip"), "install", "-q", "--disable-pip-version-check", PACKAGE, DJANGO,
         f"gunicorn=={versions()['gunicorn']}"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"pip could not install the peer ({PACKAGE}) into {venv}:\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return bin_


def _installed(bin_: Path) -> bool:
    done = subprocess.run([str(bin_ / "python"), "-c", "import survey, django, gunicorn"],
                          capture_output=True)
    return done.returncode == 0


def installed_versions(bin_: Path) -> dict[str, str]:
    code = ("import json; from importlib import metadata as m; print(json.dumps({n: m.version(n) "
            "for n in ('django-survey-and-report', 'Django', 'gunicorn')}))")
    return json.loads(subprocess.run([str(bin_ / "python"), "-c", code], capture_output=True,
                                     text=True, check=True).stdout)


def write_project(folder: Path) -> Path:
    """The Django project (peerproj/ with settings, urls, wsgi) in `folder`/project."""
    project = folder / "project"
    package = project / "peerproj"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS)
    (package / "urls.py").write_text(URLS)
    (package / "wsgi.py").write_text(WSGI)
    (project / "make_survey.py").write_text(MAKE_SURVEY)
    return project


def environment(env: dict, project: Path, database: Path, access_log: Path) -> dict:
    return {**env, "DJANGO_SETTINGS_MODULE": "peerproj.settings", "PEER_DATABASE": str(database),
            "PYTHONPATH": str(project), "ACCESS_LOG": str(access_log)}


def make_survey(bin_: Path, project: Path, env: dict) -> tuple[str, list[tuple[str, str]]]:
    """Migrate the peer's database and create the survey: (its form path, a valid answer)."""
    done = subprocess.run([str(bin_ / "python"), "make_survey.py", json.dumps(QUESTIONS)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"setting up the peer's survey failed:\n{done.stderr[-3000:]}")
    made = json.loads(done.stdout.strip().splitlines()[-1])
    return f"/survey/{made['survey']}/", [tuple(field) for field in made["fields"]]


def stored(database: Path) -> tuple[int, int]:
    """(responses, answers) in the peer's database."""
    with sqlite3.connect(database, timeout=30) as connection:
        return (connection.execute("SELECT count(*) FROM survey_response").fetchone()[0],
                connection.execute("SELECT count(*) FROM survey_answer").fetchone()[0])


if __name__ == "__main__":
    home = Path(sys.argv[1])
    home.mkdir(parents=True, exist_ok=True)
    peer_bin = install(home)
    peer_project = write_project(home)
    peer_env = environment(dict(os.environ), peer_project, home / "peer.db", home / "access.log")
    print(installed_versions(peer_bin))
    print(make_survey(peer_bin, peer_project, peer_env))
