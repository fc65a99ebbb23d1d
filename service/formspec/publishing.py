"""Changing the forms an instance serves: store an imported definition (a new version, as a draft
or published), publish a version, close a form and reopen it. Each change is one transaction that
moves the form's `revision`, so every instance's catalog notices it on its next check.

Published versions are never changed; a draft (not served yet) is replaced by the next import.
A form never turns from a ledger form into a plain one or back: its households and visits would
no longer belong to a form that has them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import gettext as _

from service import formspec
from service.formspec.catalog import Catalog, _canonical, digest_of
from service.storage.base import utcnow
from service.storage.db import write_transaction
from service.storage.form_models import Form, FormVersion


class Refused(Exception):
    """A change that stores nothing, with one line saying why."""


@dataclass(frozen=True)
class Outcome:
    form_id: str
    version: int | None
    #: what happened: new_form, new_version, draft_replaced, unchanged, published, closed,
    #: reopened, discarded (a draft), already (the form was already in the state asked for)
    change: str
    state: str


def _without_version(source: dict) -> str:
    return json.dumps({k: v for k, v in source.items() if k != "version"}, ensure_ascii=False,
                      sort_keys=True, default=str)


def _numbered(spec: formspec.FormSpec, version: int) -> formspec.FormSpec:
    if spec.version == version:
        return spec
    return formspec.parse(dict(spec.source, version=version), where=f"{spec.id} v{version}")


def _form_row(catalog: Catalog, form_id: str) -> Form | None:
    """The form's row; a form still served from its FORMS_DIR file gets one (seeded) first."""
    form = Form.get_or_none(form_id=form_id)
    if form is None and form_id in catalog.files:
        spec = catalog.files[form_id]
        catalog.ensure_published(spec)
        form = Form.create(form_id=form_id, state="published", version=spec.version)
    return form


def _moved(form: Form, **change) -> None:
    Form.update(revision=Form.revision + 1, changed_at=utcnow(), **change).where(
        Form.id == form.id).execute()


def import_spec(catalog: Catalog, spec: formspec.FormSpec, publish: bool = False) -> Outcome:
    """Store `spec` as its form's next version (a draft, or published with `publish`); an
    unchanged definition stores nothing (but `publish` serves the stored one when it is not)."""
    with write_transaction():
        form = _form_row(catalog, spec.id)
        latest = (FormVersion.select().where(FormVersion.form_id == spec.id)
                  .order_by(FormVersion.version.desc()).first())
        if form is None:     # rolled back with the rest when refused below
            form = Form.create(form_id=spec.id, state="draft", version=None)
        if latest is not None:
            before = formspec.parse(json.loads(latest.definition), where=f"{spec.id} (stored)")
            if before.ledger != spec.ledger:
                raise Refused(_(
                    "form '%(form)s' is a ledger form (households and their visits) and this "
                    "workbook would make it a plain form: a form cannot change between the two, "
                    "so nothing was stored. Give the workbook a new form_id instead.",
                    form=spec.id) if before.ledger else _(
                    "form '%(form)s' is a plain form and this workbook would make it a ledger form "
                    "(households and their visits): a form cannot change between the two, so "
                    "nothing was stored. Give the workbook a new form_id instead.", form=spec.id))
            if _without_version(before.source) == _without_version(spec.source):
                done = _publish(form, latest) if publish else None   # e.g. a pending draft
                if done is not None and done.change != "already":
                    return done
                return Outcome(spec.id, latest.version, "unchanged", form.state)
        if latest is not None and not latest.published:
            version, change = latest.version, "draft_replaced"
        else:
            version = max(latest.version + 1, spec.version) if latest is not None else spec.version
            change = "new_version" if latest is not None else "new_form"
        text = _canonical(_numbered(spec, version))
        if change == "draft_replaced":
            FormVersion.update(definition=text, digest=digest_of(text), published_at=utcnow()
                               ).where(FormVersion.id == latest.id).execute()
            row = FormVersion.get_by_id(latest.id)
        else:
            row = FormVersion.create(form_id=spec.id, version=version, definition=text,
                                     digest=digest_of(text), published=False)
        if publish:
            return Outcome(spec.id, version, change, _publish(form, row).state)
        _moved(form)
        return Outcome(spec.id, version, change, form.state)


def _publish(form: Form, row: FormVersion) -> Outcome:
    if not row.published:
        FormVersion.update(published=True, published_at=utcnow()).where(
            FormVersion.id == row.id).execute()
    state = "published" if form.state == "draft" else form.state
    if form.version == row.version and state == form.state:
        return Outcome(form.form_id, row.version, "already", state)
    _moved(form, version=row.version, state=state)
    return Outcome(form.form_id, row.version, "published", state)


def publish(catalog: Catalog, form_id: str, version: int | None = None) -> Outcome:
    """Serve `version` of a form (by default its newest, e.g. the draft just imported)."""
    with write_transaction():
        form = _form_row(catalog, form_id)
        if form is None:
            raise Refused(_("no form '%(form)s'", form=form_id))
        query = FormVersion.select().where(FormVersion.form_id == form_id)
        row = (query.where(FormVersion.version == version).first() if version is not None
               else query.order_by(FormVersion.version.desc()).first())
        if row is None:
            raise Refused(_("form '%(form)s' has no version %(version)s", form=form_id,
                            version=version))
        return _publish(form, row)


def set_closed(catalog: Catalog, form_id: str, closed: bool) -> Outcome:
    """Close a published form (its public pages answer that it is closed; the office keeps
    reading and exporting it), or reopen a closed one."""
    with write_transaction():
        form = _form_row(catalog, form_id)
        if form is None:
            raise Refused(_("no form '%(form)s'", form=form_id))
        if form.state == "draft":
            raise Refused(_("form '%(form)s' is a draft: publish it first", form=form_id))
        wanted = "closed" if closed else "published"
        if form.state == wanted:
            return Outcome(form_id, form.version, "already", wanted)
        _moved(form, state=wanted)
        return Outcome(form_id, form.version, "closed" if closed else "reopened", wanted)


def draft_of(form_id: str) -> FormVersion | None:
    """A form's draft: its newest stored version when that one was never published."""
    latest = (FormVersion.select().where(FormVersion.form_id == form_id)
              .order_by(FormVersion.version.desc()).first())
    return latest if latest is not None and not latest.published else None


def discard_draft(catalog: Catalog, form_id: str) -> Outcome:
    """Forget a form's draft; a form that was only ever a draft is forgotten with it."""
    with write_transaction():
        form = _form_row(catalog, form_id)
        row = draft_of(form_id)
        if form is None or row is None:
            raise Refused(_("form '%(form)s' has no draft", form=form_id))
        FormVersion.delete().where(FormVersion.id == row.id).execute()
        if form.state == "draft":
            Form.delete().where(Form.id == form.id).execute()
            return Outcome(form_id, row.version, "discarded", "gone")
        _moved(form)
        return Outcome(form_id, row.version, "discarded", form.state)
