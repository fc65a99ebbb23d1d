"""An export's tables as files: CSV (streamed, UTF-8 with a BOM by default), a ZIP with one CSV per
repeat group (streamed), and XLSX (one sheet per table). The rows come from export.py, already
neutralised for CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from typing import Iterator

from service.reports.export import ITEM_COLUMNS, META_COLUMNS, Export

BOM = "\ufeff"


def csv_chunks(rows: Iterator[list | str], bom: bool = True,
               flush_every: int = 500) -> Iterator[bytes]:
    """Encode rows as CSV bytes, a few hundred rows per chunk. Rows come neutralised
    (`main_rows`, `group_rows`): lists of cells, or a line of ready CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    write, writerow = buffer.write, writer.writerow
    if bom:
        write(BOM)
    for n, row in enumerate(rows, start=1):
        if type(row) is str:
            write(row)
        else:
            writerow(row)
        if n % flush_every == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream that hands written bytes to a generator."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self):
        return True

    def write(self, data):
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_chunks(export: Export, bom: bool = True) -> Iterator[bytes]:
    """The main table and one table per repeat group, as CSV files in a ZIP, streamed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        tables = [(f"{export.spec.id}.csv", export.main_rows())]
        tables += [(f"{export.spec.id}-{g.name}.csv", export.group_rows(g)) for g in export.groups]
        for name, rows in tables:
            info = zipfile.ZipInfo(name, date_time=dt.datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                for chunk in csv_chunks(rows, bom=bom):
                    member.write(chunk)
                    data = sink.take()
                    if data:
                        yield data
    yield sink.take()


#: A worksheet's rows in Excel (header included); XlsxWriter silently drops rows past it.
XLSX_MAX_ROWS = 1_048_576


def write_xlsx(export: Export, path) -> None:
    """An XLSX workbook with one sheet per table (XlsxWriter's constant-memory mode). A table
    longer than a worksheet goes on in further sheets ("members (2)", …), each with the header."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                               "strings_to_formulas": False,
                                               "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True})
    tables = [(export.spec.id, export.main_rows(for_csv=False), export.main_columns(),
               len(META_COLUMNS))]
    tables += [(g.name, export.group_rows(g, for_csv=False), export.group_columns(g),
                len(ITEM_COLUMNS))
               for g in export.groups]
    for title, rows, cols, meta_count in tables:
        numeric = {meta_count + i for i, c in enumerate(cols) if c.numeric}
        header = [str(h) for h in next(rows)]

        def new_sheet(part: int, title=title, header=header):
            suffix = f" ({part})" if part > 1 else ""
            sheet = workbook.add_worksheet(title[:31 - len(suffix)] + suffix)
            for c, cell in enumerate(header):
                sheet.write_string(0, c, cell, bold)
            return sheet
        part, sheet, r = 1, new_sheet(1), 1
        for row in rows:
            if r == XLSX_MAX_ROWS:
                part, r = part + 1, 1
                sheet = new_sheet(part)
            for c, cell in enumerate(row):
                if cell is None or cell == "":
                    continue
                elif c in numeric or isinstance(cell, int):
                    try:
                        sheet.write_number(r, c, float(cell))
                    except (TypeError, ValueError):
                        sheet.write_string(r, c, str(cell))
                else:
                    sheet.write_string(r, c, str(cell))
            r += 1
    workbook.close()
