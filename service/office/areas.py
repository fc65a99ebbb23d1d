"""The area tree (街道 → 社区 → 网格/楼栋, any depth) and its CSV import.

An area's code travels into URLs, file names and headers (a sheet's download is named after it), so
it is kept to a documented character set (`CODE`): ASCII letters, digits, `-` and `_`, starting
with a letter or digit, at most 64 characters. Every way in (the office's form, the CSV import and
`doorstep areas import`) checks it here.
"""
from __future__ import annotations

import csv
import io
import re

from flask_babel import gettext as _

from service.storage.db import write_transaction
from service.storage.models import Area

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class AreaError(Exception):
    """A problem with area data; `problems` holds one line each (with CSV line numbers)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _set_path(area: Area) -> None:
    area.path = (area.parent.path if area.parent_id else "/") + f"{area.id}/"
    area.save()


def code_problem(code: str) -> str | None:
    """Why `code` cannot be an area's code, in the user's language; None if it can."""
    if CODE.fullmatch(code):
        return None
    return _("An area code has 1 to 64 characters: letters A–Z, digits, - and _, starting with "
             "a letter or a digit (not %(code)s).", code=repr(code)[:80])


def codes_outside_the_rules() -> list[str]:
    """Codes stored before the rule existed that break it (`doorstep init` lists them)."""
    return [code for (code,) in Area.select(Area.code).order_by(Area.code).tuples()
            if not CODE.fullmatch(code)]


def create(code: str, name: str, parent: Area | None = None) -> Area:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise AreaError(["code and name are both required"])
    if problem := code_problem(code):
        raise AreaError([problem])
    if Area.select().where(Area.code == code).exists():
        raise AreaError([f"area code '{code}' already exists"])
    with write_transaction():
        area = Area.create(code=code, name=name, parent=parent, path="/")
        _set_path(area)
    return area


def import_csv(text: str) -> tuple[int, int]:
    """Apply a `code,name,parent_code` CSV: new codes are created, known codes updated.

    Parents may come later in the file or already exist. All or nothing: any bad row raises
    AreaError naming its line, and nothing of the file is applied. Returns (created, updated).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows, problems = [], []
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:3]] != ["code", "name", "parent_code"]:
        raise AreaError(["line 1: the header must be code,name,parent_code"])
    seen = {}
    for lineno, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or len(row) > 3:
            problems.append(f"line {lineno}: expected 3 columns code,name,parent_code")
            continue
        code, name = row[0].strip(), row[1].strip()
        parent = row[2].strip() if len(row) > 2 else ""
        if not code or not name:
            problems.append(f"line {lineno}: code and name are required")
            continue
        if len(name) > 200:
            problems.append(f"line {lineno}: the name is too long (200)")
            continue
        if problem := code_problem(code):
            problems.append(f"line {lineno}: {problem}")
            continue
        if code in seen:
            problems.append(f"line {lineno}: code '{code}' already appears on line {seen[code]}")
            continue
        if parent == code:
            problems.append(f"line {lineno}: an area cannot be its own parent")
            continue
        seen[code] = lineno
        rows.append((lineno, code, name, parent))
    existing = {a.code: a for a in Area.select()}
    parents = {code: parent for _, code, _, parent in rows}
    for lineno, code, _name, parent in rows:
        if parent and parent not in parents and parent not in existing:
            problems.append(f"line {lineno}: parent_code '{parent}' is not a known area")
    # a cycle would make the tree infinite: walk each row's parents
    for lineno, code, _name, _parent in rows:
        chain, cur = set(), code
        while cur:
            if cur in chain:
                problems.append(f"line {lineno}: area '{code}' is part of a parent cycle")
                break
            chain.add(cur)
            cur = parents.get(cur) if cur in parents else (
                existing[cur].parent.code if cur in existing and existing[cur].parent_id else "")
    if problems:
        raise AreaError(problems)

    created = updated = 0
    with write_transaction():
        by_code = dict(existing)
        for _lineno, code, name, _parent in rows:
            if code in by_code:
                area = by_code[code]
                if area.name != name:
                    area.name = name
                    area.save()
                updated += 1
            else:
                by_code[code] = Area.create(code=code, name=name, path="/")
                created += 1
        for _lineno, code, _name, parent in rows:
            area = by_code[code]
            area.parent = by_code[parent] if parent else None
            area.save()
        _rebuild_paths()
    return created, updated


def _rebuild_paths() -> None:
    """Recompute every materialised path from the parent links (after moves or imports)."""
    areas = list(Area.select())
    children: dict[int | None, list[Area]] = {}
    for a in areas:
        children.setdefault(a.parent_id, []).append(a)

    def walk(parent_id, prefix):
        for a in children.get(parent_id, []):
            path = f"{prefix}{a.id}/"
            if a.path != path:
                Area.update(path=path).where(Area.id == a.id).execute()
            walk(a.id, path)
    walk(None, "/")


def depth(area: Area) -> int:
    return area.path.count("/") - 2
