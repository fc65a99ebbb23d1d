"""Who may open a submission through /my: its receipt code and a second factor, the limits on
guessing them, and the short signed session that follows (README, "Residents' own data").

The second factor is the last four digits of any phone number the submission gave (as accepted,
or as corrected since); a submission with no phone number has a check code instead, four digits
derived from its receipt by HMAC with RECEIPT_CHECK_KEY and shown beside the receipt, so nothing
new is stored. A wrong code and a wrong second factor take the same path and get the same answer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service import throttle
from service.config import instance_secret
from service.formspec import FormSpec
from service.office.auth import client_ip
from service.records.answers import current_answers
from service.records.vocabulary import READ_ALOUD
from service.storage.models import Answer, Submission

COOKIE = "doorstep_my"
#: What people put between or around the two halves of a code: spaces, dashes of every width.
_SEPARATORS = re.compile(r"[\s\-_.·‐‑‒–—―−]+")
_DIGITS = re.compile(r"[0-9]{4}")


def normalised_code(text: str) -> str | None:
    """`abcd efgh`, `ＡＢＣＤ－ＥＦＧＨ` or `ABCDEFGH` as `ABCD-EFGH`; None when it is not eight
    letters of the read-aloud alphabet."""
    letters = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or "").upper())
    if len(letters) != 8 or any(c not in READ_ALOUD for c in letters):
        return None
    return f"{letters[:4]}-{letters[4:]}"


def normalised_digits(text: str) -> str | None:
    """Four digits, full-width ones and spaces allowed; None otherwise."""
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or ""))
    return digits if _DIGITS.fullmatch(digits) else None


def _key() -> bytes:
    key = current_app.config.get("RECEIPT_CHECK_KEY") or \
        instance_secret(Path(current_app.instance_path), "receipt_check_key")
    return key.encode()


def check_code(receipt: str) -> str:
    """The four digits printed beside a receipt that carries no phone number."""
    digest = hmac.new(_key(), receipt.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10_000:04d}"


def phone_endings(spec: FormSpec | None, *documents: dict) -> set[str]:
    """The last four digits of every phone answer in these answers documents (top level and in
    repeat items)."""
    found: set[str] = set()
    for document in documents if spec is not None else ():
        for q in spec.questions():
            if not q.is_group:
                found |= _endings((q,), document)
                continue
            items = document.get(q.name)
            for item in items if isinstance(items, list) else ():
                found |= _endings(q.questions, item) if isinstance(item, dict) else set()
    return found


def _endings(questions, answers: dict) -> set[str]:
    return {value[-4:] for q in questions if q.type == "phone"
            and isinstance(value := answers.get(q.name), str) and len(value) >= 4}


def spec_of(submission: Submission) -> FormSpec | None:
    return current_app.extensions["doorstep.catalog"].version(submission.form_id,
                                                              submission.form_version)


def erased_on(submission: Submission):
    """When the submission's answers were erased (service/records/erasure.py), or None."""
    return getattr(submission, "erased_at", None)


def answers_of(submission: Submission) -> tuple[FormSpec | None, dict]:
    spec = spec_of(submission)
    if spec is None or erased_on(submission):
        return spec, {}
    return spec, current_answers(spec, submission)


def receipt_check(spec: FormSpec, submission: Submission) -> str | None:
    """The check code to show beside a new receipt, or None when a phone number opens it."""
    if phone_endings(spec, json.loads(submission.answers or "{}")):
        return None
    return check_code(submission.receipt)


def _second_factors(submission: Submission | None, receipt: str) -> set[str]:
    """What opens `receipt`: its phone numbers' last digits, else its check code. An unknown
    receipt computes a check code all the same, so both paths do the same work."""
    if submission is None:
        Answer.select(Answer.value).where(Answer.submission == 0).first()   # as answers_of reads
        check_code(receipt)
        return set()
    spec, current = answers_of(submission)
    accepted = {} if erased_on(submission) else json.loads(submission.answers or "{}")
    endings = phone_endings(spec, accepted, current)
    return endings or {check_code(receipt)}


# Limits on guessing, shared by every worker and instance (service/throttle.py).

def _limits() -> dict[str, tuple[int, int]]:
    config = current_app.config
    return {"ip": (config["MY_LIMIT_IP"], config["MY_LIMIT_IP_SECONDS"]),
            "receipt": (config["MY_LIMIT_RECEIPT"], config["MY_LIMIT_RECEIPT_SECONDS"])}


def _keys(receipt: str) -> dict[str, str]:
    return {"ip": f"my-ip:{client_ip()}", "receipt": f"my-receipt:{receipt}"}


def admit(receipt: str) -> str | None:
    """Count one attempt at `receipt` from this address; which limit it is over ("ip", then
    "receipt"), or None. Counted before the check, in the same transaction as the count is read,
    so workers answering at once cannot let more through than the limit between them. A
    receipt's attempts are counted for any well-formed code, stored or not, so a lock says
    nothing about whether a receipt exists; a right answer clears its receipt's count."""
    limits = _limits()
    for which, key in _keys(receipt).items():
        limit, seconds = limits[which]
        if throttle.hit(key, seconds) > limit:
            return which
    return None


@dataclass(frozen=True)
class Opened:
    submission: Submission


def open_submission(receipt: str, digits: str) -> Opened | None:
    """The submission `receipt` and `digits` open, or None. Callers `admit()` first."""
    submission = Submission.get_or_none(Submission.receipt == receipt)
    factors = _second_factors(submission, receipt)
    right = any(hmac.compare_digest(digits, factor) for factor in factors)
    if submission is not None and erased_on(submission):
        right = True   # its answers are gone: all it can show is the day they were erased
    if not right:
        return None
    throttle.clear(_keys(receipt)["receipt"])
    return Opened(submission)


# The /my session: a signed cookie of its own (path /my), apart from the office's sign-in.

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="doorstep.my")


def session_minutes() -> int:
    return current_app.config["MY_SESSION_MINUTES"]


def start_session(response, submission: Submission) -> None:
    value = _serializer().dumps({"s": submission.id, "r": submission.receipt})
    response.set_cookie(COOKIE, value, max_age=session_minutes() * 60, path="/my",
                        httponly=True, samesite="Strict",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])


def end_session(response) -> None:
    response.delete_cookie(COOKIE, path="/my", httponly=True, samesite="Strict",
                           secure=current_app.config["SESSION_COOKIE_SECURE"])


def signed_in() -> Submission | None:
    """The submission this browser opened less than MY_SESSION_MINUTES ago, if any."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=session_minutes() * 60)
    except BadSignature:      # expired ones too (SignatureExpired is a BadSignature)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        return None
    submission = Submission.get_or_none(Submission.id == data["s"])
    if submission is None or submission.receipt != data.get("r"):
        return None
    return submission
