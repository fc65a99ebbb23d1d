"""gunicorn's access log keeps who asked for which page and how it went, never what a link's query
carried: a phone or ID number typed into the visit list's search, an office filter, a referring
page's search."""
from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest

from . import live
from .conftest import TEST_FORMS, database_url_for

pytestmark = pytest.mark.slow


def test_a_searched_phone_number_never_reaches_the_access_log(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_for(tmp_path), "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)}
    live.doorstep_init(env)
    log = tmp_path / "gunicorn.log"
    with live.served(env, log, "-w", "1") as base:
        asked = urllib.request.Request(f"{base}/visit?q=13812345678",
                                       headers={"Referer": f"{base}/visit?q=110105196303121234"})
        try:
            urllib.request.urlopen(asked).read()
        except urllib.error.HTTPError:
            pass                      # not signed in: the answer does not matter here
        urllib.request.urlopen(f"{base}/healthz").read()
    text = log.read_text()
    assert "GET /visit HTTP/1.1" in text and "GET /healthz" in text
    assert "13812345678" not in text and "110105196303121234" not in text
