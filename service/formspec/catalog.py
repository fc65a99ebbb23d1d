"""The forms this instance serves, and every version ever published (kept in `FormVersion`) so
that old submissions stay readable and exportable.

The database decides: a form with a `Form` row is served as that row says (its published version;
a draft is not served; a closed form is kept for the office, its public pages say it is closed).
A form of FORMS_DIR without a row yet (before `doorstep init` seeded it) is served from its file.
Each process checks the forms' change mark (one tiny query) at most every `check_seconds` and
reloads when another instance or command moved it; no restart is needed.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from decimal import Decimal

from peewee import fn

from service import formspec
from service.storage.base import utcnow
from service.storage.db import write_transaction
from service.storage.form_models import Form, FormVersion


def _canonical(spec: formspec.FormSpec) -> str:
    def default(o):
        if isinstance(o, Decimal):
            return str(o)
        return str(o)
    return json.dumps(spec.source, ensure_ascii=False, sort_keys=True, default=default)


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Catalog:
    def __init__(self, forms_dir, check_seconds: float = 1.0):
        self.forms_dir = forms_dir
        self.check_seconds = check_seconds
        #: the seed: FORMS_DIR's definitions (the app refuses to start on an invalid one)
        self.files: dict[str, formspec.FormSpec] = formspec.load_dir(forms_dir)
        self.current: dict[str, formspec.FormSpec] = dict(self.files)
        self.closed: frozenset[str] = frozenset()
        self._mark = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._table = False
        self._old: dict[tuple[str, int], formspec.FormSpec] = {}
        self._published: set[tuple[str, int]] = set()

    # --- reading ---------------------------------------------------------------------------

    def get(self, form_id: str) -> formspec.FormSpec | None:
        """The version a form serves (a closed form's too: the office still reads it)."""
        self.refresh()
        return self.current.get(form_id)

    def is_closed(self, form_id: str) -> bool:
        self.refresh()
        return form_id in self.closed

    def __iter__(self):
        self.refresh()
        return iter(sorted(self.current.values(), key=lambda s: s.id))

    def open_forms(self) -> list[formspec.FormSpec]:
        """The forms the public may fill in (closed ones left out)."""
        return [spec for spec in self if spec.id not in self.closed]

    def version(self, form_id: str, version: int) -> formspec.FormSpec | None:
        """A definition as it was when submissions to `version` were made (or a draft's)."""
        spec = self.get(form_id)
        if spec is not None and spec.version == version:
            return spec
        key = (form_id, version)
        if key in self._old:
            return self._old[key]
        row = FormVersion.get_or_none(form_id=form_id, version=version)
        if row is None:
            return None
        spec = formspec.parse(json.loads(row.definition), where=f"{form_id} v{version} (stored)")
        if row.published:       # never changes again; a draft may be replaced by the next import
            self._old[key] = spec
        return spec

    # --- noticing changes ------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Reload when the forms' change mark moved; checked at most every `check_seconds`."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_seconds:
            return
        self._checked = now
        mark = self._read_mark()
        if mark != self._mark:
            with self._lock:
                if mark != self._mark:      # another thread of this process may have reloaded
                    self._reload(mark)

    def _read_mark(self):
        """(forms, sum of their revisions): moves with every change to any form's row."""
        if not self._table:
            if not Form.table_exists():     # a database not upgraded yet: FORMS_DIR alone
                return None
            self._table = True
        return tuple(Form.select(fn.COUNT(Form.id), fn.COALESCE(fn.SUM(Form.revision), 0))
                     .tuples().get())

    def _reload(self, mark) -> None:
        current, closed = dict(self.files), set()
        if mark is not None:
            for row in Form.select():
                current.pop(row.form_id, None)
                if row.version is None or row.state == "draft":
                    continue
                spec = self._old.get((row.form_id, row.version)) or self._stored(row)
                if spec is not None:
                    current[row.form_id] = spec
                    if row.state == "closed":
                        closed.add(row.form_id)
        self.current, self.closed, self._mark = current, frozenset(closed), mark

    def _stored(self, row: Form) -> formspec.FormSpec | None:
        stored = FormVersion.get_or_none(form_id=row.form_id, version=row.version)
        if stored is None:
            return None
        spec = formspec.parse(json.loads(stored.definition),
                              where=f"{row.form_id} v{row.version} (stored)")
        if stored.published:
            self._old[(row.form_id, row.version)] = spec
        return spec

    # --- the seed --------------------------------------------------------------------------

    def ensure_published(self, spec: formspec.FormSpec) -> None:
        """Record this definition in FormVersion if it is not there yet (cheap after the first)."""
        key = (spec.id, spec.version)
        if key in self._published:
            return
        if not FormVersion.select().where((FormVersion.form_id == spec.id) &
                                          (FormVersion.version == spec.version)).exists():
            text = _canonical(spec)
            with write_transaction():
                FormVersion.insert(form_id=spec.id, version=spec.version, definition=text,
                                   digest=digest_of(text)).on_conflict_ignore().execute()
        self._published.add(key)

    def publish_all(self) -> list[str]:
        """Seed the database from FORMS_DIR (`doorstep init`): every file's definition published,
        and served when its form is new or the file's version is newer than the one served. Return
        a problem line for each form whose file changed without a new version number (its stored
        submissions would no longer match it)."""
        problems = []
        for spec in self.files.values():
            text = _canonical(spec)
            digest = digest_of(text)
            with write_transaction():
                row = FormVersion.get_or_none(form_id=spec.id, version=spec.version)
                if row is not None and row.digest != digest:
                    problems.append(f"form '{spec.id}' version {spec.version} was changed after "
                                    "it was published: give the changed definition a new version "
                                    "number")
                    continue
                if row is None:
                    FormVersion.create(form_id=spec.id, version=spec.version, definition=text,
                                       digest=digest)
                elif not row.published:
                    FormVersion.update(published=True, published_at=utcnow()).where(
                        FormVersion.id == row.id).execute()
                form = Form.get_or_none(form_id=spec.id)
                if form is None:
                    Form.create(form_id=spec.id, state="published", version=spec.version)
                elif form.version is None or spec.version > form.version:
                    Form.update(version=spec.version, revision=Form.revision + 1,
                                state="published" if form.state == "draft" else form.state
                                ).where(Form.id == form.id).execute()
        self.refresh(force=True)
        return problems

