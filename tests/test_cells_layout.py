"""Export cells record the layout they were written in (service/records/cells.py, a digest of
how the row's form version lays its cells out: `layout_digest`).

The default CSV copies each submission's kept cells as they are; cells written by code that laid
them out differently would land under the wrong headers. So a row whose layout is not the running
code's is rebuilt from its answer rows by the export, and rewritten by `doorstep init`.
"""
from __future__ import annotations

import csv
import io

from service.records import cells, submissions
from service.storage.db import db
from service.storage.models import Submission

from .conftest import TEST_FORMS, use_database_of

ANSWERS = {"housing": "own", "needs": ["job", "loan"], "size": 3, "remark": "旧的, 带逗号"}


def _exported(cli, env, out) -> dict[str, str]:
    done = cli("export", "survey", "--out", str(out), env=env)
    assert done.exit_code == 0, done.output
    header, row = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    return dict(zip(header, row))


def test_cells_in_another_layout_are_rebuilt_by_the_export_and_rewritten_by_init(
        app, cli, tmp_path):
    spec = app.extensions["doorstep.catalog"].get("survey")
    with app.app_context(), db.connection_context():
        app.extensions["doorstep.catalog"].ensure_published(spec)
        done, _created = submissions.store(spec, "00000000-0000-4000-8000-00000000aaaa", ANSWERS)
        kept = Submission[done.id]
        assert kept.cells_layout == cells.layout_digest(spec)
        right = kept.cells
        # what a release laying cells out differently would have left: one cell short, shifted
        Submission.update(cells=right.split(",", 1)[1], cells_layout="an0ther1ayout").where(
            Submission.id == done.id).execute()
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": str(TEST_FORMS),
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance")}
    try:
        got = _exported(cli, env, tmp_path / "before.csv")
        assert [got[k] for k in ("housing", "needs/job", "needs/training", "needs/loan", "needs",
                                 "size", "remark")] == \
            ["own", "1", "0", "1", "job;loan", "3", "旧的, 带逗号"]

        first = cli("init", env=env)
        assert first.exit_code == 0, first.output
        assert "export cells rewritten in this release's layout: 1 submission(s)" in first.output
        again = cli("init", env=env)
        assert again.exit_code == 0 and "rewritten" not in again.output
        assert _exported(cli, env, tmp_path / "after.csv") == got
    finally:
        use_database_of(app)
    with db.connection_context():
        kept = Submission[done.id]
        assert (kept.cells, kept.cells_layout) == (right, cells.layout_digest(spec))


def test_the_layout_digest_follows_what_the_code_writes(app, monkeypatch):
    catalog = app.extensions["doorstep.catalog"]

    def digest(form_id):        # computed afresh: each spec keeps the digest it computed
        spec = catalog.get(form_id)
        spec.__dict__.pop("_cells_layout", None)
        return cells.layout_digest(spec)
    survey, plain = digest("survey"), digest("conditions")     # the second: no select_multiple
    assert digest("survey") == survey and survey != plain       # the same code, the same digest
    monkeypatch.setattr(cells, "line", lambda values: ";".join(str(v) for v in values))
    assert digest("survey") != survey           # another separator: another layout
    monkeypatch.undo()
    select_multiple = type(catalog.get("survey").question("needs").qtype)
    monkeypatch.setattr(select_multiple, "cell_keys", lambda self, q: [(q.name, None)])
    assert digest("survey") != survey           # no 0/1 cell per choice: another layout
    assert digest("conditions") == plain        # ... which forms without such a question keep
