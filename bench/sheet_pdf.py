"""How long a 500-link PDF sheet takes: the print-shop file for a whole street's surveyor cards.

Makes a throw-away SQLite database with the demo forms, one area, 25 surveyors and N links (500 by
default), then times what `doorstep links sheet` does: the QR codes and the HTML, and WeasyPrint's
PDF. Kept out of `make test`; run with `make bench` or `.venv/bin/python bench/sheet_pdf.py`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.office import areas  # noqa: E402
from service import create_app, links
from service.storage import schema
from service.links import sheets
from service.storage.db import db  # noqa: E402
from service.storage.models import User  # noqa: E402

BASE = "http://192.168.1.20:8000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--kind", choices=sheets.KINDS, default="cards")
    parser.add_argument("--out", help="keep the PDF here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        app = create_app({"DATABASE_URL": f"sqlite:///{home}/bench.db", "SECRET_KEY": "bench",
                          "FORMS_DIR": str(ROOT / "forms"), "PUBLIC_BASE_URL": BASE})
        with app.app_context():
            db.connect()
            schema.upgrade()
            with db.atomic():
                area = areas.create("BENCH", "幸福街道东湖社区")
                people = [User.create(username=f"sv{i:02d}", display_name=f"调查员{i:02d}",
                                      role="surveyor", area=area, password_hash="x")
                          for i in range(25)]
                channel = "surveyor" if args.kind == "cards" else "self"
                for i in range(args.links):
                    links.create("household", area, people[i % 25] if channel == "surveyor"
                                 else None, channel)
            spec = app.extensions["doorstep.catalog"].get("household")
            chosen = list(sheets.active_links("household", area, channel))
            with app.test_request_context("/"):
                started, cpu = time.perf_counter(), time.process_time()
                sheet = sheets.build(spec, chosen, BASE, kind=args.kind, lang="zh",
                                     tz=ZoneInfo("Asia/Shanghai"))
                page = sheets.html(sheet)
                built, built_cpu = time.perf_counter(), time.process_time()
                pdf = sheets.pdf(page)
                done, done_cpu = time.perf_counter(), time.process_time()
            db.close()
    if args.out:
        Path(args.out).write_bytes(pdf)
    print(f"{sheet.count}-link PDF sheet ({args.kind}, zh): {len(sheet.pages)} pages, "
          f"{len(pdf) / 1e6:.2f} MB")
    # CPU seconds too: wall time on a shared machine depends on what else runs
    print(f"  QR codes + HTML  {built - started:6.1f} s  ({built_cpu - cpu:.1f} s CPU)")
    print(f"  PDF (WeasyPrint) {done - built:6.1f} s  ({done_cpu - built_cpu:.1f} s CPU)")
    print(f"  total            {done - started:6.1f} s  ({done_cpu - cpu:.1f} s CPU, one process, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
