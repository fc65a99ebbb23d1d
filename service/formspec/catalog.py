"""The forms this instance serves: the current definitions from FORMS_DIR, and every version ever
published (kept in `FormVersion`) so that old submissions stay readable and exportable."""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from service import formspec
from service.storage.db import write_transaction
from service.storage.models import FormVersion


def _canonical(spec: formspec.FormSpec) -> str:
    def default(o):
        if isinstance(o, Decimal):
            return str(o)
        return str(o)
    return json.dumps(spec.source, ensure_ascii=False, sort_keys=True, default=default)


class Catalog:
    def __init__(self, forms_dir):
        self.forms_dir = forms_dir
        self.current: dict[str, formspec.FormSpec] = formspec.load_dir(forms_dir)
        self._old: dict[tuple[str, int], formspec.FormSpec] = {}
        self._published: set[tuple[str, int]] = set()

    def get(self, form_id: str) -> formspec.FormSpec | None:
        return self.current.get(form_id)

    def __iter__(self):
        return iter(sorted(self.current.values(), key=lambda s: s.id))

    def version(self, form_id: str, version: int) -> formspec.FormSpec | None:
        """A definition as it was when submissions to `version` were made."""
        spec = self.current.get(form_id)
        if spec is not None and spec.version == version:
            return spec
        key = (form_id, version)
        if key not in self._old:
            row = FormVersion.get_or_none(form_id=form_id, version=version)
            if row is None:
                return None
            self._old[key] = formspec.parse(json.loads(row.definition),
                                            where=f"{form_id} v{version} (stored)")
        return self._old[key]

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
                                   digest=hashlib.sha256(text.encode()).hexdigest()
                                   ).on_conflict_ignore().execute()
        self._published.add(key)

    def publish_all(self) -> list[str]:
        """Publish every current definition; return a problem line for each form whose file changed
        without a new version number (its stored submissions would no longer match it)."""
        problems = []
        for spec in self:
            text = _canonical(spec)
            digest = hashlib.sha256(text.encode()).hexdigest()
            row = FormVersion.get_or_none(form_id=spec.id, version=spec.version)
            if row is None:
                self.ensure_published(spec)
            elif row.digest != digest:
                problems.append(f"form '{spec.id}' version {spec.version} was changed after it was "
                                "published: give the changed definition a new version number")
        return problems
