"""Box-office file import (.xlsx / .csv through a declared column mapping), on both backends.

Every file here is generated in the test's temporary folder; names are fictional and addresses
are at example.org (the hub refuses .invalid addresses); links point at .invalid.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from connectors.files import boxoffice
from connectors.files.boxoffice import FileImportError, MappingError, import_file, load_mapping, parse_mapping
from consent_hub.consent.service import ConsentService
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import ConsentEvent, EngineCustomer
from tests.conftest import Hub
from tests.factories import table_counts

HOUSE = "schouwburg-noord"
OTHER = "concertzaal-zuid"
EXPORTED = dt.datetime(2024, 11, 4, 17, 30, tzinfo=dt.UTC)

MAPPING_TOML = """
name = "kassa"
record_id = "Klantnummer"
date_format = "%d/%m/%Y"

[columns]
given_name = "Voornaam"
family_name = "Naam"
email = "E-mail"
postal_code = "Postcode"
city = "Gemeente"
country = "Land"
birth_date = "Geboortedatum"

[country_names]
"België" = "BE"

[[optins]]
column = "Nieuwsbrief"
purpose = "newsletter"
yes = ["ja", "j", "x", "1", "yes", "oui"]
no = ["nee", "n", "0", "no", "non"]
"""

HEADER = ["Klantnummer", "Voornaam", "Naam", "E-mail", "Postcode", "Gemeente", "Land", "Geboortedatum", "Nieuwsbrief"]

GOOD_ROWS: list[list[Any]] = [
    [1001, "Lien", "Desmet", "lien.desmet@example.org", 8500.0, "Kortrijk", "BE", dt.datetime(1984, 3, 12), "ja"],
    [1002, "Wout", "Vandamme", "wout.vandamme@example.org", 8800, "Roeselare", "België", "07/09/1979", "nee"],
    [1003, "Amélie", "Lefèvre", "amelie.lefevre@example.org", "7700", "Mouscron", "be", None, "oui"],
    [1004, "Jonas", "Verhaeghe", "jonas.verhaeghe@example.org", None, None, None, None, None],
]

runner = CliRunner()


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture
def ready(hub: Hub) -> Hub:
    with hub.uow() as uow:
        ConsentService(uow).sync_notices(hub.actor())
    hub.add_house(HOUSE)
    hub.add_house(OTHER)
    return hub


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "kassa.toml"
    path.write_text(MAPPING_TOML, encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: list[list[Any]], *, header: list[str] = HEADER, leading_blank: int = 0) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Klanten"
    for _ in range(leading_blank):
        ws.append([])
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: after[t] - before[t] for t in after if after[t] != before.get(t)}


def person_of(hub: Hub, external_id: str) -> uuid.UUID:
    with hub.uow() as uow:
        pid = uow.session.scalar(
            sa.select(EngineCustomer.person_id).where(
                EngineCustomer.source == f"file:{HOUSE}", EngineCustomer.external_id == external_id
            )
        )
    assert pid is not None
    return pid


def read_person(hub: Hub, pid: uuid.UUID) -> dict[str, str | None]:
    with hub.uow() as uow:
        return PeopleService(uow).read(hub.actor(), [pid], purpose="ticketing-service")[0].fields


def file_values(rows: list[list[Any]]) -> set[str]:
    """Every value written into a test file that could be personal data (for the no-leak checks)."""
    out = set()
    for row in rows:
        for cell in row:
            if cell is None:
                continue
            text = cell.strftime("%d/%m/%Y") if isinstance(cell, dt.datetime) else str(cell)
            if len(text) >= 4 and text.casefold() not in {"nieuwsbrief", "email"}:
                out.add(text)
    return out


# -- importing -------------------------------------------------------------------------------------
def test_a_good_workbook_imports_every_row(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    path = write_xlsx(tmp_path / "klanten.xlsx", GOOD_ROWS)
    report = import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert report.committed and not report.bad_rows
    assert (report.rows_read, report.created, report.imported, report.consents) == (4, 4, 4, 3)
    assert ready.sql("SELECT count(*) FROM people WHERE status = 'active'")[0][0] == 4
    customers = ready.sql(
        "SELECT count(*) FROM relations r JOIN houses h ON h.id = r.house_id WHERE h.slug = :h AND r.kind = 'customer'",
        h=HOUSE,
    )
    assert customers[0][0] == 4
    with ready.uow() as uow:
        events = list(uow.session.scalars(sa.select(ConsentEvent)))
        assert sorted(e.status for e in events) == ["granted", "granted", "refused"]
        assert {(e.purpose, e.target_kind, e.target_ref, e.channel) for e in events} == {
            ("newsletter", "house", HOUSE, "box-office")
        }
        # no opt-in time in the file: the time the workbook states it was written
        stated = load_workbook(path, read_only=True).properties.modified
        assert stated is not None and {e.given_at for e in events} == {stated.replace(tzinfo=dt.UTC)}
    run = ready.sql("SELECT connector, trigger, status, rows_read, rows_skipped FROM sync_runs")
    assert [tuple(r) for r in run] == [(f"file:{HOUSE}", "cli", "succeeded", 4, 0)]

    lien = read_person(ready, person_of(ready, "kassa:1001"))
    assert lien["postal_code"] == "8500" and lien["birth_date"] == "1984-03-12" and lien["country"] == "BE"
    wout = read_person(ready, person_of(ready, "kassa:1002"))
    assert wout["birth_date"] == "1979-09-07" and wout["country"] == "BE" and wout["postal_code"] == "8800"
    assert read_person(ready, person_of(ready, "kassa:1003"))["given_name"] == "Amélie"

    # the same file again: every record is known and unchanged, nothing new is recorded
    before = table_counts(ready)
    again = import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert (again.created, again.unchanged, again.consents, again.bad_rows) == (0, 4, 0, [])
    assert set(changed(before, table_counts(ready))) <= {"sync_runs", "audit_entries", "audit_head", "audit_subjects"}


def test_bad_rows_are_reported_by_row_number_without_values(
    ready: Hub, tmp_path: Path, mapping_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows: list[list[Any]] = [
        [2001, "Femke", "Claeys", "femke.claeys@example.org", 8500, "Kortrijk", "BE", "02/05/1990", "ja"],  # row 3
        [2002, "Pieter", "Maes", "pieter.maes.example.org", 8510, "Marke", "BE", None, None],  # 4: e-mail
        [2003, "Ines", "Goethals", "ines.goethals@example.org", 8520, "Kuurne", "BE", "31/02/1985", "ja"],  # 5: date
        [],  # row 6: an empty row is no row of the file
        [2004, "Bram", "Debruyne", "bram.debruyne@example.org", 8530, "Harelbeke", "BE", None, "misschien"],  # 7
        [2005, "Sofie", "Vermeulen", "sofie.vermeulen@example.org", 8540, "Deerlijk", "Atlantis", None, "nee"],  # 8
        [2006, "Femke", "Claeys-Bis", "Femke.Claeys@example.org", 8500, "Kortrijk", "BE", None, "ja"],  # 9: dup
        [2007, "Arne", "Coussement", "arne.coussement@example.org", 8550, "Zwevegem", None, "1/1/1975", "x"],  # 10
        [2008, None, None, None, 8560, "Wevelgem", "BE", None, None],  # 11: nobody
    ]
    path = write_xlsx(tmp_path / "fouten.xlsx", rows, leading_blank=1)  # header on row 2
    before = table_counts(ready)
    caplog.set_level(logging.DEBUG)
    report = import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert report.committed and report.rows_read == 8 and report.created == 2
    reasons = {bad.row: bad.reason for bad in report.bad_rows}
    assert sorted(reasons) == [4, 5, 7, 8, 9, 11]
    assert reasons[4].startswith("email:")
    assert reasons[5].startswith("birth_date:") and "%d/%m/%Y" in reasons[5]
    assert reasons[7].startswith("Nieuwsbrief:")
    assert reasons[8].startswith("country:")
    assert reasons[9].startswith("email:") and "row 3" in reasons[9]
    assert "no name" in reasons[11]
    # no value of the file in the report, the sync run's stored skips or the logs
    stored = [r[0] for r in ready.sql("SELECT reason FROM sync_skips")] + [
        r[0] for r in ready.sql("SELECT record_ref FROM sync_skips")
    ]
    for value in file_values(rows):
        for text in [*reasons.values(), *stored, caplog.text]:
            assert value.casefold() not in text.casefold(), (value, text)
    # only what the two good rows and the run bring changed
    delta = changed(before, table_counts(ready))
    assert delta["people"] == 2 and delta["keys.person_keys"] == 2 and delta["engine_customers"] == 2
    assert delta["relations"] == 2 and delta["consent_events"] == 2 and delta["sync_runs"] == 1
    assert delta["sync_skips"] == 6
    assert set(delta) <= {
        "people",
        "keys.person_keys",
        "engine_customers",
        "relations",
        "consent_events",
        "consent_states",
        "access_keys",
        "sync_runs",
        "sync_skips",
        "audit_entries",
        "audit_head",
        "audit_subjects",
        # PostgreSQL's segment-bitmap indexes of the new people and their keys (migration 0013)
        "person_ordinals",
        "access_key_bits",
        # the keys whose bitmaps wait for the refresh (migration 0018)
        "access_key_bits_dirty",
    }


def test_strict_and_dry_run_write_nothing(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    bad = write_xlsx(tmp_path / "fouten.xlsx", [GOOD_ROWS[0], [3001, "Kobe", "Lust", "geen-adres", 1, "X", "BE"]])
    good = write_xlsx(tmp_path / "klanten.xlsx", GOOD_ROWS)
    before = table_counts(ready)
    strict = import_file(ready.registry, "alpha", HOUSE, bad, mapping_file, strict=True)
    assert not strict.committed and strict.run_id is None and [b.row for b in strict.bad_rows] == [3]
    assert strict.created == 1  # what would have been imported
    dry = import_file(ready.registry, "alpha", HOUSE, good, mapping_file, dry_run=True)
    assert not dry.committed and (dry.created, dry.consents, dry.bad_rows) == (4, 3, [])
    assert table_counts(ready) == before
    # strict with a clean file imports
    assert import_file(ready.registry, "alpha", HOUSE, good, mapping_file, strict=True).committed


def test_a_failure_midway_leaves_nothing_behind(
    ready: Hub, tmp_path: Path, mapping_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        [4000 + i, f"Naam{i}", "Testpersoon", f"koper{i}@example.org", 8500, "Kortrijk", "BE", None, "ja"]
        for i in range(7)
    ]
    path = write_xlsx(tmp_path / "groot.xlsx", rows)
    monkeypatch.setattr(boxoffice.apply, "PAGE_SIZE", 2)
    calls: list[int] = []
    original = ConsentService.record_many

    def failing(self: ConsentService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # the third page: two pages of people and consents are already flushed
            raise RuntimeError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConsentService, "record_many", failing)
    before = table_counts(ready)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert len(calls) == 3
    assert table_counts(ready) == before
    monkeypatch.setattr(ConsentService, "record_many", original)
    report = import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert report.committed and report.created == 7 and report.consents == 7


def test_formula_cells_are_plain_text(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    formula = '=HYPERLINK("https://phish.invalid/x","Klik hier")'
    path = write_xlsx(
        tmp_path / "formules.xlsx",
        [
            [5001, formula, "=1+1", "formule.xlsx@example.org", 8500, "Kortrijk", "BE", None, None],
            [5002, "Tine", "Dewulf", "tine.dewulf@example.org", "=8000+500", "Kortrijk", "BE", None, None],
        ],
    )
    csv_path = tmp_path / "formules.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([HEADER, [5003, formula, "=1+1", "formule.csv@example.org", 8500, "Kortrijk"]])
    report = import_file(ready.registry, "alpha", HOUSE, path, mapping_file)
    assert report.created == 1 and [b.row for b in report.bad_rows] == [3]
    assert report.bad_rows[0].reason.startswith("postal_code:")  # the formula text, not 8500, was validated
    person = read_person(ready, person_of(ready, "kassa:5001"))
    assert person["given_name"] == formula and person["family_name"] == "=1+1"
    csv_mapping = parse_mapping({**load_mapping(mapping_file).model_dump(), "name": "kassa-csv"})
    assert import_file(ready.registry, "alpha", HOUSE, csv_path, csv_mapping).created == 1
    person = read_person(ready, person_of(ready, "kassa-csv:5003"))
    assert person["given_name"] == formula and person["family_name"] == "=1+1"


def test_a_semicolon_cp1252_csv_with_accents(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    text = (
        "Klantnummer;Voornaam;Naam;E-mail;Postcode;Gemeente;Land;Geboortedatum;Nieuwsbrief\r\n"
        "6001;Amélie;Lefèvre;amelie.l@example.org;7700;Mouscron;Belgique;15/08/1991;Oui\r\n"
        '6002;"François";"Dupré; fils";francois.d@example.org;4000;Liège;BE;;non\r\n'
        "6003;Zoë;Çelik;zoe.celik@example.org;8500;Kortrijk;België;;\r\n"
    )
    path = tmp_path / "kassa.csv"
    path.write_bytes(text.encode("cp1252"))
    spec = {**load_mapping(mapping_file).model_dump(), "delimiter": ";", "encoding": "cp1252"}
    spec["country_names"] = {"België": "BE", "Belgique": "BE"}
    report = import_file(ready.registry, "alpha", HOUSE, path, spec, exported_at=EXPORTED)
    assert report.committed and report.created == 3 and not report.bad_rows and report.consents == 2
    with ready.uow() as uow:
        assert set(uow.session.scalars(sa.select(ConsentEvent.given_at))) == {EXPORTED}
    amelie = read_person(ready, person_of(ready, "kassa:6001"))
    assert (amelie["given_name"], amelie["family_name"], amelie["birth_date"]) == ("Amélie", "Lefèvre", "1991-08-15")
    francois = read_person(ready, person_of(ready, "kassa:6002"))
    assert (francois["family_name"], francois["city"]) == ("Dupré; fils", "Liège")
    assert read_person(ready, person_of(ready, "kassa:6003"))["family_name"] == "Çelik"
    # the same bytes declared as UTF-8: refused as a whole, nothing written
    before = table_counts(ready)
    with pytest.raises(FileImportError, match="not utf-8-sig"):
        import_file(ready.registry, "alpha", HOUSE, path, {**spec, "encoding": "utf-8-sig"})
    assert table_counts(ready) == before


def test_an_erased_person_is_not_created_again(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    first = write_xlsx(tmp_path / "januari.xlsx", GOOD_ROWS[:2])
    import_file(ready.registry, "alpha", HOUSE, first, mapping_file)
    with ready.uow() as uow:
        RightsService(uow).erase(ready.actor(), person_of(ready, "kassa:1001"))
    # a later file: the erased buyer under a new customer number, the other one unchanged
    later = write_xlsx(tmp_path / "februari.xlsx", [[1901, *GOOD_ROWS[0][1:]], GOOD_ROWS[1]])
    report = import_file(ready.registry, "alpha", HOUSE, later, mapping_file)
    assert (report.suppressed, report.created, report.unchanged, report.bad_rows) == (1, 0, 1, [])
    assert ready.sql("SELECT count(*) FROM people WHERE status = 'active'")[0][0] == 1
    # a buyer the hub knows from another house's file is matched by e-mail, not created again
    other = write_xlsx(tmp_path / "ander.xlsx", [[77, *GOOD_ROWS[1][1:]]])
    again = import_file(ready.registry, "alpha", OTHER, other, mapping_file)
    assert (again.matched, again.created) == (1, 0)
    assert ready.sql("SELECT count(*) FROM people")[0][0] == 2


def test_without_a_record_id_the_row_number_is_the_id_within_its_file(ready: Hub, tmp_path: Path) -> None:
    spec = {
        "name": "balie",
        "datetime_format": "%d/%m/%Y %H:%M",
        "columns": {"given_name": "Voornaam", "email": "E-mail"},
        "optins": [{"column": "Nieuwsbrief", "purpose": "newsletter", "decided_at": "Datum"}],
    }

    def write(name: str, rows: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows([["Voornaam", "E-mail", "Nieuwsbrief", "Datum"], *rows])
        return path

    first = write(
        "oktober.csv",
        [
            ["Lien", "lien.desmet@example.org", "ja", "03/10/2024 14:15"],
            ["Wout", "wout.vandamme@example.org", "nee", ""],
            ["Ines", "ines.goethals@example.org", "ja", "gisteren"],
        ],
    )
    report = import_file(ready.registry, "alpha", HOUSE, first, spec, exported_at=EXPORTED)
    assert (report.created, report.consents) == (2, 2)
    assert [(b.row, b.reason.split(":")[0]) for b in report.bad_rows] == [(4, "Datum")]
    assert "gisteren" not in report.bad_rows[0].reason
    with ready.uow() as uow:
        given = {e.status: e.given_at for e in uow.session.scalars(sa.select(ConsentEvent))}
        ids = set(uow.session.scalars(sa.select(EngineCustomer.external_id)))
    # a time without a zone is the counter's local time (CEST in October); no time: the export time
    assert given == {"granted": dt.datetime(2024, 10, 3, 12, 15, tzinfo=dt.UTC), "refused": EXPORTED}
    assert ids == {f"{report.file_id}:2", f"{report.file_id}:3"} and report.file_id != "balie"
    again = import_file(ready.registry, "alpha", HOUSE, first, spec, exported_at=EXPORTED)
    assert (again.created, again.unchanged, again.consents) == (0, 2, 0)
    # a later file: row 2 is somebody else now; Wout is found again by his address
    later = write(
        "november.csv", [["Jonas", "jonas.v@example.org", "", ""], ["Wout", "wout.vandamme@example.org", "", ""]]
    )
    third = import_file(ready.registry, "alpha", HOUSE, later, spec)
    assert (third.created, third.matched, third.updated) == (1, 1, 0)
    assert ready.sql("SELECT count(*) FROM people")[0][0] == 3


# -- mappings and files that cannot be used ---------------------------------------------------------
def test_the_example_mapping_is_valid() -> None:
    example = Path(boxoffice.__file__).parent.parent / "mappings" / "example-boxoffice.toml"
    spec = load_mapping(example)
    assert spec.record_id and spec.delimiter == ";" and spec.optins[0].purpose == "newsletter"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"colour": "blue"}, "mapping.colour"),
        ({"columns": {"email": "E-mail", "shoe_size": "Maat"}}, "not person fields"),
        ({"columns": {"city": "Gemeente"}}, "at least one of"),
        ({"optins": [{"column": "Regio", "purpose": "cluster-marketing"}]}, "not house-scoped"),
        ({"optins": [{"column": "Nieuwsbrief", "purpose": "no-such-purpose"}]}, "unknown purpose"),
        ({"optins": [{"column": "N", "purpose": "newsletter", "yes": ["ja"], "no": ["ja"]}]}, "both as yes"),
        ({"record_id": "E-mail"}, "mapped twice"),
        ({"date_format": "dd/mm/yyyy"}, "strptime"),
        ({"encoding": "klingon"}, "unknown encoding"),
        ({"name": "Kassa Export!"}, "mapping.name"),
    ],
)
def test_a_bad_mapping_is_refused_clearly(mapping_file: Path, change: dict[str, Any], words: str) -> None:
    raw = {**load_mapping(mapping_file).model_dump(), **change}
    with pytest.raises(MappingError) as caught:
        parse_mapping(raw)
    assert words in str(caught.value.detail)


def test_unusable_files_are_refused_before_anything_is_written(ready: Hub, tmp_path: Path, mapping_file: Path) -> None:
    before = table_counts(ready)
    missing = write_xlsx(tmp_path / "kolommen.xlsx", GOOD_ROWS, header=["Klantnummer", "Voornaam", "Naam", "Mail"])
    with pytest.raises(FileImportError) as caught:
        import_file(ready.registry, "alpha", HOUSE, missing, mapping_file)
    assert "E-mail" in str(caught.value.detail) and "mapping.columns.email" in str(caught.value.detail)
    (tmp_path / "oud.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(FileImportError, match="xlsx"):
        import_file(ready.registry, "alpha", HOUSE, tmp_path / "oud.xls", mapping_file)
    (tmp_path / "kapot.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(FileImportError, match="not a readable"):
        import_file(ready.registry, "alpha", HOUSE, tmp_path / "kapot.xlsx", mapping_file)
    good = write_xlsx(tmp_path / "klanten.xlsx", GOOD_ROWS)
    with pytest.raises(FileImportError, match="no house"):
        import_file(ready.registry, "alpha", "nergens", good, mapping_file)
    assert table_counts(ready) == before


# -- the command -----------------------------------------------------------------------------------
@pytest.fixture
def cli(ready: Hub, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from consent_hub.cli import _add_extra_commands, app

    if not any(c.name == "import-file" for c in app.registered_commands):
        _add_extra_commands()
    monkeypatch.setenv("CONSENT_HUB_CONFIG", str(ready.dir / "hub.toml"))

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    return run


def test_the_import_file_command(cli, ready: Hub, tmp_path: Path, mapping_file: Path) -> None:  # type: ignore[no-untyped-def]
    bad = write_xlsx(tmp_path / "fouten.xlsx", [*GOOD_ROWS[:2], [3001, "Kobe", "Lust", "geen-adres", 1, "X", "BE"]])
    base = ["import-file", "--cluster", "alpha", "--house", HOUSE, "--mapping", str(mapping_file)]
    before = table_counts(ready)

    strict = cli(*base, str(bad), "--strict")
    assert strict.exit_code == 1, strict.output
    assert "nothing written" in strict.output and "geen-adres" not in strict.output
    dry = cli(*base, str(bad), "--dry-run")
    assert dry.exit_code == 0 and "dry run" in dry.output
    assert table_counts(ready) == before

    report_path = tmp_path / "verslag.csv"
    done = cli(*base, str(bad), "--report", str(report_path))
    assert done.exit_code == 0, done.output
    assert "imported" in done.output and "email:" in done.output
    with report_path.open(encoding="utf-8", newline="") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["row", "reason"] and [line[0] for line in lines[1:]] == ["4"]
    assert lines[1][1].startswith("email:") and "geen-adres" not in report_path.read_text("utf-8")
    assert ready.sql("SELECT count(*) FROM people")[0][0] == 2

    broken = tmp_path / "kapot.toml"
    broken.write_text(MAPPING_TOML.replace('purpose = "newsletter"', 'purpose = "cluster-marketing"'), "utf-8")
    refused = cli("import-file", "-c", "alpha", "--house", HOUSE, "--mapping", str(broken), str(bad))
    assert refused.exit_code == 2 and "MappingError" in refused.output and "house-scoped" in refused.output
    unknown = cli(*base, str(tmp_path / "bestaat-niet.csv"))
    assert unknown.exit_code == 2 and "cannot read" in unknown.output
