"""How the office's downloads are sent: an XLSX made whole in a temporary file, or CSV/ZIP bytes
streamed as they are made, each audit-logged once it is sent (a stream says whether it ended); and
the one way every download and image names its file (`disposition`)."""
from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from typing import Callable, Iterator
from urllib.parse import quote

from flask import Response, send_file, stream_with_context

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(write: Callable[[str], None], name: str, audited: Callable[[], None]):
    """`write(path)` makes the workbook; it is sent as `name`, then `audited()` is called."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        write(path)
        audited()
        response = send_file(path, mimetype=XLSX)
        response.headers["Content-Disposition"] = disposition(name)
        return response
    finally:
        os.unlink(path)    # the open file stays readable until sent (POSIX)


def streamed(chunks: Callable[[], Iterator[bytes]], name: str, mimetype: str,
             audited: Callable[[bool], None]) -> Response:
    """The bytes of `chunks()` as an attachment `name`, never cached; `audited(complete)` runs
    when the stream ends, whether the client read it all or went away."""
    def generate():
        finished = False
        try:
            yield from chunks()
            finished = True
        finally:
            audited(finished)

    # (Werkzeug adds the charset to text/csv)
    return Response(stream_with_context(generate()), mimetype=mimetype, headers={
        "Content-Disposition": disposition(name),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


# Characters no file name keeps: controls (a line break would end the header), path separators,
# and what Windows refuses in a name.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_filename(name: str) -> str:
    """`name` as a file name: unsafe characters as `_`, no leading dots, at most 150 characters."""
    name = "".join("_" if unicodedata.category(c).startswith("C") else c for c in name)
    return _UNSAFE.sub("_", name).lstrip(". ")[:150] or "download"


def disposition(name: str, inline: bool = False) -> str:
    """A Content-Disposition value naming `name` that no user text can break (RFC 6266): the
    name made safe, as plain ASCII in `filename` and, when it is not ASCII, also in full as
    RFC 5987 `filename*=UTF-8''…` (as Werkzeug's send_file does)."""
    name = safe_filename(name)       # no quote, backslash or control left: quoting is plain
    value = "inline" if inline else "attachment"
    if name.isascii():
        return f'{value}; filename="{name}"'
    simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return (f'{value}; filename="{safe_filename(simple)}"; '
            f"filename*=UTF-8''{quote(name, safe='!#$&+-.^_`|~')}")
