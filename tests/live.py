"""Doorstep served for real by gunicorn, for the tests that need the production stack (browser
tests, concurrent workers, several instances): a free port, a log file, and a clean stop."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent          # the venv that runs pytest also has gunicorn, doorstep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(env: dict, log: Path, *options: str, ready: str = "/") -> Iterator[str]:
    """gunicorn (with `options`, e.g. "-w", "3") on a free port; yields its base URL once `ready`
    answers 200, and stops it (terminate, then kill) when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(env, log, port, *options)
    try:
        wait_until_up(url + ready, process, log)
        yield url
    finally:
        stop(process)


def start(env: dict, log: Path, port: int, *options: str) -> subprocess.Popen:
    """gunicorn on `port`, its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(BIN / "gunicorn"), *options, "--bind", f"127.0.0.1:{port}",
             "service:create_app()"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer on {url} within {timeout}s:\n{log.read_text()}")


def doorstep_init(env: dict) -> subprocess.CompletedProcess:
    """`doorstep init` as the container's entry script runs it; fails the test if it fails."""
    init = subprocess.run([str(BIN / "doorstep"), "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    return init


@contextlib.contextmanager
def server_keys(keys_dir):
    """`sealing.unseal` with the keys `doorstep init` wrote for a server (its instance folder),
    for a test that reads the server's database itself: identifiers are sealed at rest."""
    from service.storage import sealing
    before = sealing._last
    sealing._last = sealing.Sealer({"KEYS_DIR": str(keys_dir)})
    try:
        yield sealing.unseal
    finally:
        sealing._last = before


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class ClientAt:
    """One browser at one address behind a (pretend) proxy: its own cookies, its address in
    X-Forwarded-For, redirects answered as they come (a sign-in's 302 is its outcome)."""

    def __init__(self, base: str, address: str):
        self.base, self.address = base, address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def request(self, path, data=None) -> tuple[int, str]:
        body = urlencode(data, doseq=True).encode() if data is not None else None
        asked = urllib.request.Request(self.base + path, body,
                                       headers={"X-Forwarded-For": self.address})
        try:
            with self.opener.open(asked, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()
