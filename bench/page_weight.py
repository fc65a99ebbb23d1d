"""How heavy each form page is on a phone, and how soon it can be used on a slow network.

For every form in forms/: the bytes of HTML, CSS and JavaScript as served (compressed, as Chromium
asks for them), the number of requests the page makes and whether any leaves the server's origin,
then the time to interactive in Debian's Chromium at 360x740 under Chrome DevTools' "Slow 3G" profile
(2,000 ms latency, 50,000 bytes/s each way, applied with CDP Network.emulateNetworkConditions):
- cold: a first visit, nothing on the phone;
- reopen: the page opened again with the server stopped, from the service worker's copy.
"Interactive" is DOMContentLoaded's end: the form's scripts are deferred, so they have all run then.

Kept out of `make test`; run `.venv/bin/python bench/page_weight.py [--runs N]`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, RestartableServer, free_port,
)

SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000,
           "uploadThroughput": 50_000}
ENCODINGS = "gzip, deflate, br, zstd"
BUDGET = 30_000
INTERACTIVE = ("(() => { const t = performance.getEntriesByType('navigation')[0];"
               " return t.domContentLoadedEventEnd; })()")


def served_bytes(url: str) -> tuple[int, str]:
    """The body's size as it travels (compressed), and its encoding."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": ENCODINGS})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return len(reply.read()), reply.headers.get("Content-Encoding") or "identity"


def weigh(base: str, form_id: str, loaded: list[str]) -> dict:
    """HTML, CSS and JavaScript of one form page as served; `loaded` are the page's requests."""
    sizes = {"html": 0, "css": 0, "js": 0}
    sizes["html"], encoding = served_bytes(f"{base}/f/{form_id}")
    for url in loaded:
        path = urlsplit(url).path
        kind = "css" if path.endswith(".css") else "js" if path.endswith(".js") else None
        if kind and path.startswith("/static/"):
            sizes[kind] += served_bytes(url)[0]
    return {**sizes, "total": sum(sizes.values()), "encoding": encoding}


def visit(browser, url: str, server: RestartableServer | None = None) -> dict:
    """One cold visit under Slow 3G; with `server`, also a reopen after stopping it."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    page.goto(url, wait_until="load", timeout=120_000)
    result = {"cold": page.evaluate(INTERACTIVE)}
    page.wait_for_selector("html[data-offline-ready]", state="attached", timeout=120_000)
    result["requests"] = list(requests)    # the page's own, the icon included (it comes late)
    if server is not None:
        server.stop()
        try:
            page.reload(wait_until="load", timeout=120_000)
            result["reopen"] = page.evaluate(INTERACTIVE)
            assert page.locator("form.survey").count() == 1, "the copy on the phone did not open"
        finally:
            server.start()
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="visits per form (median reported)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    forms = sorted(p.stem for p in (ROOT / "forms").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{home / 'doorstep.db'}",
               "FORMS_DIR": str(ROOT / "forms"), "SECRET_KEY": "bench-page-weight",
               "INSTANCE_PATH": str(home / "instance"), "ACCESS_LOG": str(home / "access.log")}
        server = RestartableServer(home, env, free_port())
        server.doorstep("init")
        server.start()
        rows = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for form_id in forms:
                    url = f"{server.url}/f/{form_id}"
                    visits = [visit(browser, url, server) for _ in range(args.runs)]
                    loaded = visits[0]["requests"]
                    offsite = [u for u in loaded if not u.startswith(server.url)]
                    rows.append({"form": form_id, **weigh(server.url, form_id, loaded),
                                 "requests": len(loaded), "offsite": len(offsite),
                                 "cold": statistics.median(v["cold"] for v in visits),
                                 "reopen": statistics.median(v["reopen"] for v in visits)})
                browser.close()
        finally:
            server.stop()

    print(f"Form pages as served ({rows[0]['encoding']}), Chromium 360x740, Slow 3G "
          f"(2,000 ms, 50 KB/s), median of {args.runs}; budget {BUDGET:,} bytes")
    print(f"{'form':<12}{'HTML':>8}{'CSS':>7}{'JS':>8}{'total':>8}  {'requests':>8} {'offsite':>7}"
          f"  {'interactive, cold':>17}  {'reopen, no server':>17}")
    for r in rows:
        print(f"{r['form']:<12}{r['html']:>8,}{r['css']:>7,}{r['js']:>8,}{r['total']:>8,}  "
              f"{r['requests']:>8} {r['offsite']:>7}  {r['cold'] / 1000:>16.1f}s  "
              f"{r['reopen'] / 1000:>16.2f}s")
    over = [r["form"] for r in rows if r["total"] >= BUDGET or r["offsite"]]
    if over:
        sys.exit(f"over budget or reaching off-site: {', '.join(over)}")


if __name__ == "__main__":
    main()
