"""CSV imports of nurses and requesters: validate every row first, errors by line, upsert."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from dispatch.people.imports import ImportResult, import_nurses, import_requesters, parse_kind
from models import Nurse, Postcode, Requester, RequesterPhone
from tests.support.helpers import make_nurse, make_requester


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.lstrip("\n").encode(encoding)


def nurse_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Nurse))


def nurse(session, e164: str) -> Nurse:
    return session.scalar(select(Nurse).where(Nurse.phone == e164))


def communes_of(session, postcode: str) -> list[str]:
    return sorted(session.scalars(select(Postcode.insee).where(Postcode.postcode == postcode)))


GOOD_NURSES = """
name,phone,zones,skills,availability
Sophie Martin,06 04 33 21 81,42400 42152,,mon-fri 07:00-19:30
Valérie Chapuis,+33 6 27 64 83 50,42800;insee:42123,perfusion Sortie,mon-fri 07:00-12:30; sat 08:00-12:00
Karim Mansouri,0033660733754,42218,,
"""


def test_good_nurses_file_is_imported(raw_session):
    result = import_nurses(raw_session, csv_bytes(GOOD_NURSES))
    raw_session.commit()

    assert result.errors == []
    assert (result.rows, result.created, result.updated, result.ok) == (3, 3, 0, True)
    sophie = nurse(raw_session, "+33604332181")
    assert sophie.name == "Sophie Martin"
    assert sophie.zone_codes == ["42110", "42207"]  # Saint-Chamond (42400) and L'Horme (42152)
    assert sophie.skill_names == []
    assert sophie.availability == "mon-fri 07:00-19:30"
    valerie = nurse(raw_session, "+33627648350")
    # A postcode stands for every commune it covers; insee: names one commune.
    assert valerie.zone_codes == sorted({*communes_of(raw_session, "42800"), "42123"})
    assert len(valerie.zone_codes) == 11
    assert valerie.skill_names == ["perfusion", "sortie"]
    assert valerie.availability == "mon-fri 07:00-12:30; sat 08:00-12:00"
    karim = nurse(raw_session, "+33660733754")
    assert karim.zone_codes == ["42218"]
    assert karim.availability == ""


def test_semicolons_bom_french_headers_and_corsica(raw_session):
    text = "\ufeffNom;Téléphone;Communes;Compétences\nHélène Boyer;06.60.64.74.68;2A004 42100;perfusion\n"
    result = import_nurses(raw_session, text.encode("utf-8"))

    assert result.ok, result.errors
    helene = nurse(raw_session, "+33660647468")
    assert helene.name == "Hélène Boyer"
    # 42100 is Saint-Étienne's postcode (a 5-digit code is a postcode first), 2A004 Ajaccio.
    assert helene.zone_codes == ["2A004", "42218"]


def test_reimport_updates_by_phone(raw_session):
    import_nurses(raw_session, csv_bytes(GOOD_NURSES))
    raw_session.commit()
    sophie = nurse(raw_session, "+33604332181")
    sophie_id = sophie.id
    sophie.skills  # loaded
    update = "name,phone,zones\nSophie Martin-Roux,0604332181,42420\n"

    result = import_nurses(raw_session, csv_bytes(update))
    raw_session.commit()

    assert (result.created, result.updated, result.ok) == (0, 1, True)
    assert nurse_count(raw_session) == 3
    raw_session.expire_all()
    sophie = nurse(raw_session, "+33604332181")
    assert sophie.id == sophie_id
    assert sophie.name == "Sophie Martin-Roux"
    assert sophie.zone_codes == ["42123"]
    # Columns left out keep what the nurse had.
    assert sophie.availability == "mon-fri 07:00-19:30"


def _statements(session, run) -> list[str]:
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def _nurses_csv(count: int, zone: str, skill: str, prefix: str = "Infirmière") -> bytes:
    lines = [f"{prefix} N°{i},06 00 00 {i // 100:02d} {i % 100:02d},{zone},{skill}," for i in range(count)]
    return csv_bytes("name,phone,zones,skills,availability\n" + "\n".join(lines) + "\n")


def test_import_reads_zones_and_skills_with_the_nurses_not_one_nurse_at_a_time(raw_session):
    created = _statements(raw_session, lambda: import_nurses(raw_session, _nurses_csv(30, "42400", "perfusion")))
    raw_session.commit()
    raw_session.expunge_all()
    # New nurses: their empty collections cost no query.
    assert not [s for s in created if s.startswith("SELECT") and ("nurse_zones" in s or "nurse_skills" in s)]

    flushes: list[int] = []
    event.listen(raw_session, "after_flush", lambda *_: flushes.append(1))
    updated = _statements(
        raw_session, lambda: import_nurses(raw_session, _nurses_csv(30, "42800", "sortie", prefix="Élodie"))
    )
    raw_session.commit()
    assert len(flushes) <= 2  # the import's own flush and the commit's: no autoflush per nurse
    # Existing nurses: their zones and skills come in one query each, whatever their number.
    assert len([s for s in updated if s.startswith("SELECT") and "FROM nurse_zones" in s]) == 1
    assert len([s for s in updated if s.startswith("SELECT") and "FROM nurse_skills" in s]) == 1
    raw_session.expire_all()
    nurses = raw_session.scalars(select(Nurse).order_by(Nurse.id)).all()
    assert len(nurses) == 30
    assert {tuple(n.skill_names) for n in nurses} == {("sortie",)}
    assert {n.search_text for n in nurses[:2]} == {"elodie n°0", "elodie n°1"}  # the folded name follows


def test_reimport_keeps_pause_and_opt_out_and_replaces_skills(raw_session):
    from datetime import UTC, datetime

    existing = make_nurse(raw_session, "Anne", "06 12 34 56 78", ["42207"], skills=["perfusion"])
    existing.opted_out_at = datetime(2026, 1, 1, tzinfo=UTC)
    raw_session.commit()

    result = import_nurses(raw_session, csv_bytes("name,phone,zones,skills\nAnne,0612345678,42207,sortie\n"))
    raw_session.commit()

    assert result.updated == 1
    raw_session.expire_all()
    anne = nurse(raw_session, "+33612345678")
    assert anne.skill_names == ["sortie"]
    assert anne.opted_out_at is not None


BAD_FILES = [
    pytest.param("name,phone,zones\nAnne,06 12,42400\n", 2, "phone", id="bad-phone"),
    pytest.param("name,phone,zones\nAnne,0477123456,42400\n", 2, "not a mobile", id="landline"),
    pytest.param("name,phone,zones\nAnne,0612345678,99999\n", 2, "unknown zone '99999'", id="unknown-zone"),
    pytest.param("name,phone,zones\nAnne,0612345678,Saint-Chamond\n", 2, "not a postcode", id="zone-name"),
    pytest.param("name,phone,zones\nAnne,0612345678,1000\n", 2, "leading zero", id="zone-4-digits"),
    pytest.param("name,phone,zones\nAnne,0612345678,\n", 2, "zones is empty", id="no-zone"),
    pytest.param(
        "name,phone,zones\nAnne,0612345678,42400\nBea,+33 6 12 34 56 78,42400\n",
        3,
        "already on line 2",
        id="duplicate-phone",
    ),
    pytest.param("name,phone\nAnne,0612345678\n", 1, "missing column 'zones'", id="missing-column"),
    pytest.param("", 1, "empty", id="empty-file"),
    pytest.param("\n\n  \n", 1, "empty", id="blank-file"),
    pytest.param("name,phone,zones\n", 1, "no rows", id="header-only"),
    pytest.param("name,phone,zones\n" + "A" * 121 + ",0612345678,42400\n", 2, "too long", id="long-name"),
    pytest.param("name,phone,zones\n ,0612345678,42400\n", 2, "name is empty", id="no-name"),
    pytest.param("name,phone,zones,skills\nAnne,0612345678,42400,piqure\n", 2, "unknown skill", id="bad-skill"),
    pytest.param(
        "name,phone,zones,availability\nAnne,0612345678,42400,lundi 8h-12h\n", 2, "availability", id="bad-hours"
    ),
    pytest.param("name,phone,zones,phone\nA,0612345678,42400,x\n", 1, "twice", id="duplicate-column"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD_FILES)
def test_bad_nurse_files_name_the_line_and_write_nothing(raw_session, text, line, fragment):
    result = import_nurses(raw_session, csv_bytes(text))
    raw_session.commit()

    assert not result.ok
    assert [e.line for e in result.errors] == [line], result.errors
    assert fragment in result.errors[0].message
    assert str(result.errors[0]).startswith(f"line {line}: ")
    assert nurse_count(raw_session) == 0


def test_latin1_file_says_to_save_as_utf8_with_its_line(raw_session):
    text = "name,phone,zones\nAnne,0612345678,42400\nHélène,0612345679,42400\n"

    result = import_nurses(raw_session, text.encode("latin-1"))

    assert result.fatal
    assert [e.line for e in result.errors] == [3]
    assert "not UTF-8" in result.errors[0].message
    assert "CSV UTF-8" in result.errors[0].message
    assert "Hélène" in result.errors[0].message  # the line, read as Windows-1252, to find it
    assert nurse_count(raw_session) == 0


def test_xlsx_is_recognised(raw_session):
    result = import_nurses(raw_session, b"PK\x03\x04\x14\x00\x06\x00binary")
    assert result.fatal and ".xlsx" in result.errors[0].message


def test_every_bad_row_is_listed_and_nothing_is_written(raw_session):
    text = (
        "name,phone,zones\n"
        "Anne,0612345678,42400\n"
        "Bad Phone,06 12,42400\n"
        "Good Too,0612345677,42000\n"
        "Bad Zone,0612345676,00000\n"
        "Bad Both,xx,12\n"
    )
    result = import_nurses(raw_session, csv_bytes(text))
    raw_session.commit()

    assert result.error_lines == [3, 5, 6]
    assert len([e for e in result.errors if e.line == 6]) == 2
    assert result.imported == 0
    assert nurse_count(raw_session) == 0


def test_skip_invalid_imports_the_good_rows(raw_session):
    text = "name,phone,zones\nAnne,0612345678,42400\nBad,06 12,42400\nBea,0612345677,42000\n"
    result = import_nurses(raw_session, csv_bytes(text), skip_invalid=True)
    raw_session.commit()

    assert result.error_lines == [3]
    assert (result.rows, result.created, result.ok) == (3, 2, False)
    assert nurse_count(raw_session) == 2


def test_line_numbers_count_physical_lines(raw_session):
    # A quoted cell over two lines; blank lines are skipped but counted.
    text = 'name,phone,zones\n"Anne\nMarie",0612345678,42400\n\nBad,06,42400\n'
    result = import_nurses(raw_session, csv_bytes(text))

    assert result.error_lines == [5]


def test_unused_columns_are_warned_not_fatal(raw_session):
    result = import_nurses(raw_session, csv_bytes("name,phone,zones,notes\nAnne,0612345678,42400,hello\n"))
    assert result.ok
    assert any("notes" in w for w in result.warnings)


def test_import_result_ok_needs_every_row():
    assert ImportResult("nurses", rows=2, created=2).ok
    assert not ImportResult("nurses", rows=2, created=1).ok


# --- requesters --------------------------------------------------------------------------------

GOOD_REQUESTERS = """
name;kind;phones;postcode
Ehpad Les Tilleuls;EHPAD;04 65 71 20 10;42400
CHU Saint-Étienne, service de médecine;hôpital;04 65 71 30 20 04 65 71 30 21;42270
Laboratoire BioGier;laboratoire;;42800
"""


def requester(session, name: str) -> Requester:
    return session.scalar(select(Requester).where(Requester.name == name))


def test_good_requesters_file(raw_session):
    result = import_requesters(raw_session, csv_bytes(GOOD_REQUESTERS))
    raw_session.commit()

    assert result.ok, result.errors
    assert result.created == 3
    chu = requester(raw_session, "CHU Saint-Étienne, service de médecine")
    assert chu.kind == "hopital"
    assert chu.postcode == "42270"
    assert sorted(p.phone for p in chu.phones) == ["+33465713020", "+33465713021"]
    assert requester(raw_session, "Ehpad Les Tilleuls").kind == "ehpad"
    lab = requester(raw_session, "Laboratoire BioGier")
    assert (lab.kind, lab.phones) == ("labo", [])


def test_requesters_upsert_by_name_and_move_numbers(raw_session):
    import_requesters(raw_session, csv_bytes(GOOD_REQUESTERS))
    raw_session.commit()
    # The Ehpad's number moves to the lab, the Ehpad gets a new one: both are in the file.
    update = "name,kind,phones\nEhpad Les Tilleuls,ehpad,0465712011\nLaboratoire BioGier,labo,0465712010\n"

    result = import_requesters(raw_session, csv_bytes(update))
    raw_session.commit()

    assert (result.created, result.updated, result.ok) == (0, 2, True), result.errors
    raw_session.expire_all()
    assert [p.phone for p in requester(raw_session, "Ehpad Les Tilleuls").phones] == ["+33465712011"]
    assert [p.phone for p in requester(raw_session, "Laboratoire BioGier").phones] == ["+33465712010"]
    assert requester(raw_session, "Laboratoire BioGier").postcode == "42800"  # no postcode column: kept
    assert raw_session.scalar(select(func.count()).select_from(Requester)) == 3


def test_requester_number_of_another_requester_is_refused(raw_session):
    make_requester(raw_session, "Cabinet Vidal", "medecin", phones=("04 65 71 50 00",))
    raw_session.commit()

    result = import_requesters(raw_session, csv_bytes("name,kind,phones\nEhpad,ehpad,04 65 71 50 00\n"))

    assert result.error_lines == [2]
    assert "Cabinet Vidal" in result.errors[0].message
    assert raw_session.scalar(select(func.count()).select_from(RequesterPhone)) == 1


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name,kind\nX,boulangerie\n", 2, "unknown kind"),
        ("name,kind,phones\nX,ehpad,04 77\n", 2, "phone '04 77'"),
        ("name,kind,postcode\nX,ehpad,99999\n", 2, "unknown postcode"),
        ("name,kind,postcode\nX,ehpad,4240\n", 2, "leading zero"),
        ("name,kind\nX,ehpad\nX,labo\n", 3, "already on line 2"),
        ("name,kind,phones\nX,ehpad,0465712010\nY,labo,+33465712010\n", 3, "already on line 2"),
        ("name,phones\nX,0465712010\n", 1, "missing column 'kind'"),
        ("", 1, "empty"),
    ],
)
def test_bad_requester_files(raw_session, text, line, fragment):
    result = import_requesters(raw_session, csv_bytes(text))
    raw_session.commit()

    assert result.error_lines == [line], result.errors
    assert fragment in result.errors[0].message
    assert raw_session.scalar(select(func.count()).select_from(Requester)) == 0


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("hôpital", "hopital"),
        ("Hopital", "hopital"),
        ("CHU", "hopital"),
        ("Clinique", "hopital"),
        ("EHPAD", "ehpad"),
        ("maison de retraite", "ehpad"),
        ("Laboratoire", "labo"),
        ("labo", "labo"),
        ("Assistante sociale", "social"),
        ("Médecin généraliste", "medecin"),
        ("autre", "autre"),
        ("boulangerie", None),
        ("", None),
    ],
)
def test_parse_kind(word, kind):
    assert parse_kind(word) == kind
