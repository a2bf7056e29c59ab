"""Box-office files: buyer lists a house exports at the counter, as .xlsx or .csv, imported through a
declared column mapping (TOML; see ``connectors/files/mappings/example-boxoffice.toml``).

One file is one unit of work: every good row is imported, or nothing is (a failure anywhere rolls
the whole file back). ``dry_run`` validates and reports, then rolls back; ``strict`` rolls back when
any row is bad. Each committed import is recorded as a sync run of connector ``file:<house>``.

Rows become ``CustomerRecord``s of source ``file:<house>`` for the importing house (a ``customer``
relation there). A record's id is ``<file id>:<record id>``: with a declared record-id column (the
counter's customer number) the file id is the mapping's ``name``, so a later file of the same export
finds the same record again; without one the record id is the row number and the file id is a digest
of the file's bytes, so a row number never stands for a person beyond its own file (people are then
found again by e-mail address). Opt-in columns become house-scoped consent events for the importing
house with channel ``box-office``.

Bad rows are reported by their row number as the spreadsheet shows it and the rule they broke, by
field or column name: never a value from the file (not in the report, the logs or an exception).
Cells are read as values: a formula (``=HYPERLINK(...)``) is kept as the plain text it is, never
evaluated and never replaced by a result cached in the workbook.

The package follows the import's phases: ``mapping`` (the declared column mapping and its
validation), ``reading`` (.xlsx / .csv to numbered rows), ``cells`` and ``rows`` (rows to validated
records), ``apply`` (the one-transaction import), ``report`` (its outcome) and ``command`` (the
``consent-hub import-file`` command).
"""

from connectors.files.boxoffice.apply import import_file
from connectors.files.boxoffice.command import import_file_command
from connectors.files.boxoffice.errors import FileImportError, MappingError
from connectors.files.boxoffice.mapping import BoxOfficeMapping, OptInColumn, header_key, load_mapping, parse_mapping
from connectors.files.boxoffice.reading import Sheet, read_sheet
from connectors.files.boxoffice.report import ImportReport, print_report
from connectors.files.boxoffice.rows import BadRow, Layout, prepare_rows, resolve_layout

__all__ = [
    "BadRow",
    "BoxOfficeMapping",
    "FileImportError",
    "ImportReport",
    "Layout",
    "MappingError",
    "OptInColumn",
    "Sheet",
    "header_key",
    "import_file",
    "import_file_command",
    "load_mapping",
    "parse_mapping",
    "prepare_rows",
    "print_report",
    "read_sheet",
    "resolve_layout",
]
