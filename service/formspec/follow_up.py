"""Reading a form's `follow_up` key: each submission of the form opens a follow-up for the office.

    follow_up: {due_working_days: 15}                      # a suggestion answered in 15 days
    follow_up:                                             # a sign-up confirmed with a session
      due_working_days: 2
      sign_up: {session_question: sessions, event_question: event}
    follow_up:                                             # an application reviewed step by step
      due_working_days: 20
      steps:
        - {name: submitted, label: {zh: 已申报, en: Submitted}}
        - {name: reviewed, role: manager, label: {zh: 社区审核通过, en: Reviewed}}
        - {name: declined, role: manager, after: [submitted, reviewed], final: true, label: ...}

A sign-up's session and event questions are top-level choice questions of the form; an
application's first step is where every application starts (no role), each later one names the
role that may take it and by default follows the step before it (`after` lists others), and at
least one step is `final` (the follow-up closes there). Every problem is said precisely, with the
loader's other problems.
"""
from __future__ import annotations

from service.formspec.declare import text, unknown_keys, whole
from service.formspec.model import FollowUpRule, FormSpec, ReviewStep, SignUp, Text

KEYS = {"due_working_days", "sign_up", "steps"}
MAX_DUE = 250              # a working year: more is a typo
#: The office's roles (office/auth.py ROLES), named here so form definitions need no database.
ROLES = ("admin", "manager", "surveyor")
CTX = "follow_up"


def parse(check, value, spec: FormSpec) -> FollowUpRule | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.problem(CTX, "must be a mapping, e.g. {due_working_days: 15}")
        return None
    unknown_keys(check, CTX, value, KEYS)
    due = whole(check, CTX, value, "due_working_days", 15, 1)
    if due is not None and due > MAX_DUE:
        check.problem(CTX, f"due_working_days must be at most {MAX_DUE}")
        due = 15
    sign_up = _sign_up(check, value.get("sign_up"), spec)
    steps = _steps(check, value.get("steps"))
    if sign_up and steps:
        check.problem(CTX, "a follow-up is a sign-up or an application, not both: keep sign_up "
                           "or steps")
    return FollowUpRule(due_working_days=due or 15, sign_up=sign_up, steps=steps)


def _choice_question(check, ctx, spec: FormSpec, name):
    q = spec.question(name) if isinstance(name, str) else None
    if q is None:
        check.problem(ctx, f"{name!r} is not a question of this form")
        return None
    if spec.parent_of(q.name) is not None or not q.choices:
        check.problem(ctx, f"'{name}' must be a top-level question answered by choices "
                           "(select_one or select_multiple)")
        return None
    return q.name


def _sign_up(check, value, spec: FormSpec) -> SignUp | None:
    if value is None:
        return None
    ctx = f"{CTX} sign_up"
    if not isinstance(value, dict) or "session_question" not in value:
        check.problem(ctx, "must be a mapping naming the session_question (whose options are "
                           "the sessions the office confirms)")
        return None
    unknown_keys(check, ctx, value, {"session_question", "event_question"})
    session = _choice_question(check, f"{ctx} session_question", spec, value["session_question"])
    event = None
    if value.get("event_question") is not None:
        event = _choice_question(check, f"{ctx} event_question", spec, value["event_question"])
    return SignUp(session_question=session, event_question=event) if session else None


def _steps(check, items) -> tuple[ReviewStep, ...]:
    if items is None:
        return ()
    ctx = f"{CTX} steps"
    if not isinstance(items, list) or len(items) < 2:
        check.problem(ctx, "must be a list of at least two steps: where an application starts, "
                           "and where its review ends")
        return ()
    steps, names = [], []
    for i, item in enumerate(items):
        where = f"{ctx} {i + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                not item["name"].replace("_", "").isalnum() or not item["name"].isascii():
            check.problem(where, "must be a mapping with a name (a-z, 0-9, '_') and a label")
            continue
        unknown_keys(check, where, item, {"name", "label", "role", "after", "final"})
        name = item["name"]
        where = f"{ctx} '{name}'"
        if name in names:
            check.problem(where, "duplicate step name")
        role = item.get("role")
        if i == 0 and role is not None:
            check.problem(where, "the first step is where every application starts: it has no "
                                 "role")
        if i > 0 and role not in ROLES:
            check.problem(where, f"role must be one of {', '.join(ROLES)} (who may take this "
                                 "step)")
        after = item.get("after", [names[-1]] if names else [])
        if not isinstance(after, list) or not all(a in names for a in after):
            check.problem(where, "after must list steps named before this one")
            after = []
        final = item.get("final", False)
        if not isinstance(final, bool) or (i == 0 and final):
            check.problem(where, "final must be true or false, and not on the first step")
            final = False
        label = text(check, f"{where} label", item.get("label"), required=True)
        names.append(name)
        steps.append(ReviewStep(name=name, label=label or Text(name), role=role,
                                after=tuple(after), final=final))
    if steps and not any(s.final for s in steps):
        check.problem(ctx, "at least one step must be final (where a review ends)")
    return tuple(steps)
