"""Reading answers: an answers document as `Answer` rows and back, and what the public form would
show for it. Only reads and pure functions live here, so the tally recount, exports and schema
upgrades use them without importing the module that writes submissions (submissions.py)."""
from __future__ import annotations

from service.formspec import FormSpec, Question
from service.formspec.conditions import is_shown
from service.storage import sealing
from service.storage.models import Answer, Submission


def rows_for(form_id: str, q: Question, value, item: int | None) -> list[dict]:
    """The `Answer` rows of one answered question (one per value of a select_multiple). A `pii`
    question's values are sealed (and no number kept beside them): `Answer.value` reads them
    back plain (sealed_fields.OpenedText)."""
    kind = q.qtype
    if q.pii:
        return [{"form_id": form_id, "question": q.name, "item": item,
                 "value": sealing.seal(str(v)), "number": None} for v in kind.row_values(value)]
    return [{"form_id": form_id, "question": q.name, "item": item, "value": str(v),
             "number": float(v) if kind.numeric else None} for v in kind.row_values(value)]


def answer_rows(spec: FormSpec, answers: dict) -> list[dict]:
    """The `Answer` rows of an answers document (without the submission id)."""
    rows = []
    for q in spec.questions():
        if q.name not in answers:
            continue
        if q.is_group:
            for i, item in enumerate(answers[q.name]):
                for child in q.questions:
                    if child.name in item:
                        rows += rows_for(spec.id, child, item[child.name], i)
        else:
            rows += rows_for(spec.id, q, answers[q.name], None)
    return rows


def _typed(q: Question, text: str):
    return q.qtype.typed(q, text)


def shape(spec: FormSpec, rows) -> dict:
    """(question, item, value) answer rows → the answers document, shaped like the stored one."""
    answers: dict = {}
    for name, item, value in rows:
        q = spec.question(name)
        if q is None:
            continue
        target = answers
        if item is not None:
            parent = spec.parent_of(name)
            if parent is None:
                continue
            items = answers.setdefault(parent.name, [])
            while len(items) <= item:
                items.append({})
            target = items[item]
        if q.qtype.multiple:
            target.setdefault(name, []).append(value)
        else:
            target[name] = _typed(q, value)
    return answers


def current_answers(spec: FormSpec, submission: Submission) -> dict:
    """The answers as they stand now (corrections applied)."""
    return shape(spec, Answer.select(Answer.question, Answer.item, Answer.value)
                 .where(Answer.submission == submission).order_by(Answer.id).tuples())


def answer_rows_of(ids: list[int]) -> dict[int, list[tuple]]:
    """The (question, item, value) rows of several submissions in one query, each submission's in
    stored order (for `shape`): recounts and upgrades read thousands of submissions."""
    rows: dict[int, list[tuple]] = {sid: [] for sid in ids}
    for sid, question, item, value in (
            Answer.select(Answer.submission, Answer.question, Answer.item, Answer.value)
            .where(Answer.submission.in_(ids)).order_by(Answer.id).tuples()):
        rows[sid].append((question, item, value))
    return rows


def walk(spec: FormSpec, answers: dict, sensitive_ok: bool):
    """(question, item, shown, value) for every answerable question of an answers document, items
    of repeat groups included, in form order: `shown` as the public form decides it (a hidden
    question's answer does not count for the conditions after it, as on the page)."""
    kept: dict = {}
    for q in spec.questions():
        if not q.answerable:
            continue
        shown = is_shown(q, kept.get, sensitive_ok)
        if not q.is_group:
            yield q, None, shown, answers.get(q.name)
            if shown and q.name in answers:
                kept[q.name] = answers[q.name]
            continue
        if shown and q.name in answers:
            kept[q.name] = answers[q.name]
        for i, item in enumerate(answers.get(q.name, [])):
            seen: dict = {}
            lookup = lambda name, seen=seen: seen[name] if name in seen else kept.get(name)  # noqa: E731
            for child in q.questions:
                if not child.answerable:
                    continue
                child_shown = shown and is_shown(child, lookup, sensitive_ok)
                yield child, i, child_shown, item.get(child.name)
                if child_shown and child.name in item:
                    seen[child.name] = item[child.name]


def now_hidden(spec: FormSpec, answers: dict, sensitive_ok: bool):
    """(question, item, value) of the answers that the public form would now hide."""
    return [(q, item, value) for q, item, shown, value in walk(spec, answers, sensitive_ok)
            if not shown and value is not None]


def missing_required(spec: FormSpec, answers: dict,
                     sensitive_ok: bool) -> list[tuple[Question, int | None]]:
    """Required questions the public form would ask for these (current) answers but that have
    none (a correction can open a follow-up, e.g. `why` once `employed` became no): the office
    should ask and fill them in."""
    return [(q, item) for q, item, shown, value in walk(spec, answers, sensitive_ok)
            if shown and q.required and value in (None, [])]
