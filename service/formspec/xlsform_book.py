"""An uploaded workbook as a file: refused with one clear message when it is too large, protected
by a password, an old .xls, damaged or no workbook at all; else pyxform's reading of its sheets
(every row kept, empty ones too, so row numbers are the sheet's). xlsform.py maps what it reads."""
from __future__ import annotations

import io
import zipfile

from flask_babel import gettext as _
from pyxform.xls2json_backends import DefinitionData, xlsx_to_dict

#: A form's workbook is tens of kilobytes; the app's usual post limit (MAX_CONTENT_LENGTH).
MAX_BYTES = 1024 * 1024
#: Unpacked, a workbook may not grow past this (a small zip can unpack to gigabytes).
MAX_UNPACKED = 32 * 1024 * 1024
#: The compound-file header: an .xls, or an .xlsx encrypted with a password
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class XLSFormError(Exception):
    """The workbook cannot become a form; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def line(sheet: str, row: int | None, column: str | None, message: str) -> str:
    """One problem as the user reads it: `survey row 5 (relevant): …`."""
    if row is None:
        return message
    if column:
        return _("%(sheet)s row %(row)s (%(column)s): %(message)s", sheet=sheet, row=row,
                 column=column, message=message)
    return _("%(sheet)s row %(row)s: %(message)s", sheet=sheet, row=row, message=message)


def open_book(data: bytes, max_bytes: int) -> DefinitionData:
    if len(data) > max_bytes:
        raise XLSFormError([_("The file is larger than %(limit)s KB; a form's workbook is far "
                              "smaller.", limit=max_bytes // 1024)])
    if data.startswith(_OLE2):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise XLSFormError([_("The workbook is protected by a password: save a copy without "
                                  "the password and upload that.")])
        raise XLSFormError([_("This is an old Excel 97–2003 workbook (.xls): save it as .xlsx.")])
    not_a_workbook = _("This is not an Excel workbook (.xlsx).")
    if not data.startswith(b"PK"):
        raise XLSFormError([not_a_workbook])
    damaged = _("The workbook is damaged and cannot be read: open it in Excel or WPS and save it "
                "again.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise XLSFormError([damaged]) from None
    if "xl/workbook.xml" not in names:
        raise XLSFormError([not_a_workbook])
    if unpacked > MAX_UNPACKED:
        raise XLSFormError([_("The workbook unpacks to more than %(limit)s MB; a form's workbook "
                              "is far smaller.", limit=MAX_UNPACKED // 2**20)])
    try:
        return DefinitionData(**xlsx_to_dict(io.BytesIO(data)))
    except Exception:   # noqa: BLE001 - a damaged part of a user's file can fail anywhere inside
        raise XLSFormError([damaged]) from None
