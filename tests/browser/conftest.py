"""Browser fixtures: Doorstep served for real by gunicorn, and Debian's Chromium as a phone.

The server is the production stack (gunicorn, two workers, a SQLite file made by `doorstep init`), so
what the browser proves is what a household's phone would meet. Chromium is Debian's: Playwright
cannot download its own browser here.
"""
from __future__ import annotations


import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .. import live
from ..ci import unavailable
from ..live import BIN, ROOT
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass(frozen=True)
class LiveServer:
    url: str            # http://127.0.0.1:<port>
    database: Path      # the SQLite file the server writes

    @property
    def keys(self) -> Path:
        """Where `doorstep init` wrote the server's field and lookup keys (its instance folder):
        an app of the test's own on the same database needs them."""
        return self.database.parent / "instance"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """gunicorn serving the demo forms on a free port, stopped when the session ends."""
    home = tmp_path_factory.mktemp("live")
    database = home / "doorstep.db"
    env = {**os.environ,
           "DATABASE_URL": f"sqlite:///{database}",
           "FORMS_DIR": str(ROOT / "forms"),
           "SECRET_KEY": "browser-test-secret",
           "INSTANCE_PATH": str(home / "instance")}
    live.doorstep_init(env)
    with live.served(env, home / "gunicorn.log", "-w", "2") as url:
        yield LiveServer(url=url, database=database)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless. Missing Chromium skips locally but fails in CI."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is missing (make chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    """A page as a small Android phone in Chinese sees it: 360x740, touch, zh-CN."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


class RestartableServer:
    """gunicorn on a fixed port and database that a test stops and starts again: a phone meets a
    server that is really gone (Playwright's `set_offline` does not cover a service worker's own
    requests, microsoft/playwright#2311), then back at the same address."""

    def __init__(self, home: Path, env: dict, port: int):
        self.home, self.env, self.port = home, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.database = Path(env["DATABASE_URL"][len("sqlite:///"):])
        self.log = home / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def doorstep(self, *args: str, stdin: str = "") -> str:
        """Run the `doorstep` command against this server's database; its output."""
        done = subprocess.run([str(BIN / "doorstep"), *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, **env: str) -> None:
        """Serve (again), with `env` changed from now on (e.g. another FORMS_DIR)."""
        self.env.update(env)
        self.process = live.start(self.env, self.log, self.port, "-w", "2")
        live.wait_until_up(self.url + "/", self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            live.stop(self.process)
            self.process = None


@pytest.fixture
def restartable_server(tmp_path):
    """A server of this test's own (demo forms, fresh database), stopped when the test ends."""
    env = {**os.environ,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'doorstep.db'}",
           "FORMS_DIR": str(ROOT / "forms"),
           "SECRET_KEY": "restartable-test-secret",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    server = RestartableServer(tmp_path, env, live.free_port())
    server.doorstep("init")
    server.env["PUBLIC_BASE_URL"] = server.url
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_keys(database):
    """`sealing.unseal` with the keys of the server writing `database` (its instance folder
    beside it), for a test that reads the server's SQLite file itself: identifiers are sealed."""
    return live.server_keys(Path(database).parent / "instance")


def csp_violations(context) -> list[str]:
    """What the browser reports refusing under the Content-Security-Policy, on every page of
    `context` from now on (a list that fills as pages run): Chromium says so on the console."""
    refused: list[str] = []

    def heard(message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            refused.append(f"{message.type}: {message.text}")

    context.on("console", heard)
    context.add_init_script("document.addEventListener('securitypolicyviolation', function (e) {"
                            " console.error('Content Security Policy violation: ' +"
                            " e.violatedDirective + ' ' + e.blockedURI); });")
    return refused
