"""How the office's downloads are sent: an XLSX made whole in a temporary file, or CSV/ZIP bytes
streamed as they are made, each audit-logged once it is sent (a stream says whether it ended)."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Iterator

from flask import Response, send_file, stream_with_context

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(write: Callable[[str], None], name: str, audited: Callable[[], None]):
    """`write(path)` makes the workbook; it is sent as `name`, then `audited()` is called."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        write(path)
        audited()
        return send_file(path, as_attachment=True, download_name=name, mimetype=XLSX)
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
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
