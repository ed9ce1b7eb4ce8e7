"""CSV imports of nurses and requesters (DESIGN §5): validate every row, then upsert.

The functions take a :class:`Session` and the file's bytes and return an
:class:`ImportResult` with one error per bad row, numbered by the line of the CSV
file (the header is line 1). Nothing is written when a row is bad, unless
``skip_invalid``; the caller commits. Messages are English, for operators.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.hours import HoursError, WeeklyHours
from dispatch.phones import PhoneError, normalize_phone
from dispatch.vocab import CARE_TYPES, REQUESTER_KINDS
from models import Commune, Nurse, NurseSkill, NurseZone, Postcode, Requester, RequesterPhone

NAME_MAX = 120  # Nurse.name and Requester.name are String(120)
AVAILABILITY_MAX = 200  # Nurse.availability is String(200)
_LIST_SPLIT = re.compile(r"[\s;,]+")
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")

# French column names a spreadsheet may carry, mapped to the contract's names (folded, no accents).
NURSE_COLUMNS: dict[str, str] = {
    "nom": "name",
    "telephone": "phone",
    "tel": "phone",
    "portable": "phone",
    "mobile": "phone",
    "communes": "zones",
    "zone": "zones",
    "competences": "skills",
    "disponibilite": "availability",
    "disponibilites": "availability",
    "horaires": "availability",
}
REQUESTER_COLUMNS: dict[str, str] = {
    "nom": "name",
    "type": "kind",
    "phone": "phones",
    "telephone": "phones",
    "telephones": "phones",
    "tel": "phones",
    "code postal": "postcode",
    "cp": "postcode",
}

# Common ways to write a requester's kind, without accents and in lower case.
KIND_SYNONYMS: dict[str, str] = {
    "hopital": "hopital",
    "hospital": "hopital",
    "ch": "hopital",
    "chu": "hopital",
    "chr": "hopital",
    "clinique": "hopital",
    "clinic": "hopital",
    "service hospitalier": "hopital",
    "centre hospitalier": "hopital",
    "ehpad": "ehpad",
    "maison de retraite": "ehpad",
    "residence": "ehpad",
    "nursing home": "ehpad",
    "labo": "labo",
    "laboratoire": "labo",
    "laboratoire d'analyses": "labo",
    "lab": "labo",
    "laboratory": "labo",
    "social": "social",
    "assistante sociale": "social",
    "assistant social": "social",
    "service social": "social",
    "travailleur social": "social",
    "ccas": "social",
    "medecin": "medecin",
    "medecin generaliste": "medecin",
    "generaliste": "medecin",
    "docteur": "medecin",
    "cabinet medical": "medecin",
    "gp": "medecin",
    "doctor": "medecin",
    "autre": "autre",
    "other": "autre",
}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportResult:
    """What an import did: rows read, rows written, and every error by line."""

    what: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: True when the file itself could not be read (encoding, header): no row was looked at.
    fatal: bool = False

    @property
    def imported(self) -> int:
        return self.created + self.updated

    @property
    def ok(self) -> bool:
        """Every row was imported (the CLI's exit code 0)."""
        return not self.errors and self.imported == self.rows

    @property
    def error_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})


@dataclass
class _Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number, column -> stripped value)


class _FileError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.error = RowError(line, message)


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how free words are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("’", "'").split())


def _decode(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        raise _FileError(1, "this is a spreadsheet workbook (.xlsx), not CSV: save it as 'CSV UTF-8' and import that")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        snippet = data[start : end if end >= 0 else len(data)].decode("cp1252", errors="replace").strip()
        raise _FileError(
            line,
            f"the file is not UTF-8 (byte 0x{data[err.start]:02X} in {snippet[:60]!r}, probably Latin-1/Windows-1252): "
            "save it as 'CSV UTF-8' in your spreadsheet and import it again",
        ) from None
    if "\x00" in text:
        raise _FileError(
            text[: text.index("\x00")].count("\n") + 1, "the file holds NUL bytes: it is not a CSV text file"
        )
    if not text.strip():
        raise _FileError(1, "the file is empty (expected a header line, then one line per row)")
    return text


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_table(data: bytes, aliases: dict[str, str]) -> _Table:
    """Decode, sniff the delimiter, read the header, and number every row by its first line."""
    text = _decode(data)
    lines = text.splitlines(keepends=True)
    offset = 0
    delimiter = None
    if lines and lines[0].lower().startswith("sep=") and len(lines[0].strip()) == 5:  # Excel's hint line
        delimiter = lines[0].strip()[4]
        offset = 1
    while offset < len(lines) and not lines[offset].strip():
        offset += 1  # blank lines before the header
    body = "".join(lines[offset:])
    if not body.strip():
        raise _FileError(1, "the file is empty (expected a header line, then one line per row)")
    delimiter = delimiter or _delimiter(lines[offset])
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    header = next(reader)
    header_line = offset + 1
    columns: list[str] = []
    for raw in header:
        name = fold(raw).strip("\"' ")
        name = aliases.get(name, name)
        if name in columns and name:
            raise _FileError(header_line, f"column {name!r} appears twice in the header")
        columns.append(name)
    rows: list[tuple[int, dict[str, str]]] = []
    last = reader.line_num
    try:
        for record in reader:
            first_line = header_line + last  # the row's first line in the file
            last = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(columns):
                extra = [c for c in record[len(columns) :] if c.strip()]
                if extra:
                    rows.append((first_line, {"__error__": f"{len(record)} cells but the header has {len(columns)}"}))
                    continue
            values = {col: (record[i].strip() if i < len(record) else "") for i, col in enumerate(columns) if col}
            rows.append((first_line, values))
    except csv.Error as err:
        raise _FileError(header_line + reader.line_num - 1, f"cannot read the CSV: {err}") from None
    return _Table(columns, rows)


def _check_columns(table: _Table, required: tuple[str, ...], optional: tuple[str, ...], result: ImportResult) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        found = ",".join(c for c in table.columns if c) or "(none)"
        names = ", ".join(repr(c) for c in missing)
        raise _FileError(1, f"missing column {names} (the header must name {','.join(required)}; found: {found})")
    for col in table.columns:
        if col and col not in required + optional:
            result.warnings.append(f"column {col!r} is not used (known columns: {','.join(required + optional)})")
    if not table.rows:
        raise _FileError(1, "the file has a header but no rows")


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("name is empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"name is too long ({len(name)} characters, at most {NAME_MAX})")
    return name


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Zones:
    """Resolve zone words to INSEE codes with a few queries for the whole file."""

    def __init__(self, session: Session, tokens: set[str]):
        codes = sorted({t.split(":", 1)[-1].upper() for t in tokens})
        self.by_postcode: dict[str, list[str]] = {}
        self.communes: set[str] = set()
        for chunk in _chunks(codes):
            for postcode, insee in session.execute(
                select(Postcode.postcode, Postcode.insee).where(Postcode.postcode.in_(chunk))
            ):
                self.by_postcode.setdefault(postcode, []).append(insee)
            self.communes.update(session.scalars(select(Commune.insee).where(Commune.insee.in_(chunk))))

    def resolve(self, token: str) -> list[str]:
        """INSEE codes for one zone word; a 5-digit word is a postcode first, ``insee:`` forces a commune."""
        prefix, _, code = token.rpartition(":")
        code = code.upper()
        prefix = prefix.lower()
        if prefix not in ("", "insee", "cp"):
            raise ValueError(f"zone {token!r}: unknown prefix (use insee:CODE or cp:CODE)")
        if prefix != "insee" and code in self.by_postcode:
            return sorted(self.by_postcode[code])
        if prefix != "cp" and code in self.communes:
            return [code]
        if re.fullmatch(r"\d{4}", code):
            raise ValueError(f"zone {token!r} has 4 digits: did the spreadsheet drop a leading zero (0{code})?")
        if not _INSEE.match(code):
            raise ValueError(f"zone {token!r} is not a postcode or an INSEE code (5 characters, e.g. 42400 or 42207)")
        what = {"insee": "INSEE code", "cp": "postcode"}.get(prefix, "postcode or INSEE code")
        raise ValueError(f"unknown zone {token!r} (no such {what})")


def _split_list(value: str) -> list[str]:
    return [t for t in _LIST_SPLIT.split(value) if t]


@dataclass
class _NurseRow:
    line: int
    name: str
    phone: str
    zones: list[str]
    skills: list[str] | None
    availability: str | None


def import_nurses(session: Session, data: bytes, *, skip_invalid: bool = False) -> ImportResult:
    """Validate every row of a nurses CSV, then upsert the nurses by phone (E.164).

    Columns ``name,phone,zones`` are required, ``skills,availability`` optional. When a
    row is bad nothing is written, unless ``skip_invalid``: then the good rows are.
    """
    result = ImportResult("nurses")
    try:
        table = _read_table(data, NURSE_COLUMNS)
        _check_columns(table, ("name", "phone", "zones"), ("skills", "availability"), result)
    except _FileError as err:
        result.errors.append(err.error)
        result.fatal = True
        return result
    result.rows = len(table.rows)
    zones = _Zones(session, {t for _, row in table.rows for t in _split_list(row.get("zones", ""))})
    has_skills = "skills" in table.columns
    has_availability = "availability" in table.columns
    valid: list[_NurseRow] = []
    seen_phones: dict[str, int] = {}
    for line, row in table.rows:
        problems: list[str] = []
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        name = phone = None
        try:
            name = _name(row.get("name", ""))
        except ValueError as err:
            problems.append(str(err))
        try:
            parsed = normalize_phone(row.get("phone", ""))
            if not parsed.is_mobile:
                problems.append(f"phone {row['phone']!r} is not a mobile number: nurses get their offers by text")
            elif parsed.e164 in seen_phones:
                problems.append(f"phone {row['phone']!r} is already on line {seen_phones[parsed.e164]} (duplicate)")
            else:
                phone = parsed.e164
                seen_phones[phone] = line
        except PhoneError as err:
            problems.append(f"phone: {err}" if row.get("phone") else "phone is empty")
        codes: set[str] = set()
        words = _split_list(row.get("zones", ""))
        if not words:
            problems.append("zones is empty (give postcodes or INSEE codes separated by spaces or ';')")
        for word in words:
            try:
                codes.update(zones.resolve(word))
            except ValueError as err:
                problems.append(str(err))
        skills: list[str] | None = None
        if has_skills:
            skills = []
            for word in _split_list(row.get("skills", "")):
                skill = fold(word)
                if skill not in CARE_TYPES:
                    problems.append(f"unknown skill {word!r} (known: {', '.join(CARE_TYPES)})")
                elif skill not in skills:
                    skills.append(skill)
        availability: str | None = None
        if has_availability:
            availability = " ".join(row.get("availability", "").split())
            if len(availability) > AVAILABILITY_MAX:
                problems.append(f"availability is too long (at most {AVAILABILITY_MAX} characters)")
            else:
                try:
                    WeeklyHours.parse(availability)
                except HoursError as err:
                    problems.append(f"availability: {err}")
        if problems:
            result.errors.extend(RowError(line, p) for p in problems)
        else:
            valid.append(_NurseRow(line, name, phone, sorted(codes), skills, availability))
    if result.errors and not skip_invalid:
        return result
    _write_nurses(session, valid, result)
    return result


def _write_nurses(session: Session, rows: list[_NurseRow], result: ImportResult) -> None:
    # The existing nurses come with their zones and skills (two queries per chunk, not two
    # per nurse); a new nurse's collections are empty without a query. One flush at the end.
    existing: dict[str, Nurse] = {}
    for chunk in _chunks([r.phone for r in rows]):
        query = (
            select(Nurse).where(Nurse.phone.in_(chunk)).options(selectinload(Nurse.zones), selectinload(Nurse.skills))
        )
        existing.update({n.phone: n for n in session.scalars(query)})
    with session.no_autoflush:
        for row in rows:
            nurse = existing.get(row.phone)
            if nurse is None:
                nurse = Nurse(phone=row.phone, name=row.name, availability=row.availability or "")
                session.add(nurse)
                result.created += 1
            else:
                nurse.name = row.name
                if row.availability is not None:
                    nurse.availability = row.availability
                result.updated += 1
            _replace(nurse.zones, set(row.zones), lambda code: NurseZone(insee=code), "insee")
            if row.skills is not None:
                _replace(nurse.skills, set(row.skills), lambda skill: NurseSkill(skill=skill), "skill")
    session.flush()


def _replace(collection: list, wanted: set[str], make, attr: str) -> None:
    """Change a child collection to ``wanted`` keys, keeping the rows that stay."""
    current = {getattr(i, attr) for i in collection}
    for item in [i for i in collection if getattr(i, attr) not in wanted]:
        collection.remove(item)
    for key in sorted(wanted - current):
        collection.append(make(key))


@dataclass
class _RequesterRow:
    line: int
    name: str
    kind: str
    phones: list[str] | None  # None: no phones column, keep the requester's numbers
    postcode: str | None


def parse_kind(value: str) -> str | None:
    """A requester kind from a word such as ``hôpital``, ``EHPAD`` or ``laboratoire``; None if unknown."""
    word = fold(value)
    if word in REQUESTER_KINDS:
        return word
    return KIND_SYNONYMS.get(word)


def import_requesters(session: Session, data: bytes, *, skip_invalid: bool = False) -> ImportResult:
    """Validate every row of a requesters CSV, then upsert the requesters by name.

    Columns ``name,kind`` are required, ``phones,postcode`` optional. A number belongs to
    one requester only; a row's ``phones`` replace that requester's numbers.
    """
    result = ImportResult("requesters")
    try:
        table = _read_table(data, REQUESTER_COLUMNS)
        _check_columns(table, ("name", "kind"), ("phones", "postcode"), result)
    except _FileError as err:
        result.errors.append(err.error)
        result.fatal = True
        return result
    result.rows = len(table.rows)
    has_phones = "phones" in table.columns
    has_postcode = "postcode" in table.columns
    seen_names: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    valid: list[_RequesterRow] = []
    for line, row in table.rows:
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        problems: list[str] = []
        name = None
        try:
            name = _name(row.get("name", ""))
            if name in seen_names:
                problems.append(f"name {name!r} is already on line {seen_names[name]} (duplicate)")
            else:
                seen_names[name] = line
        except ValueError as err:
            problems.append(str(err))
        kind = parse_kind(row.get("kind", ""))
        if kind is None:
            problems.append(
                f"unknown kind {row.get('kind', '')!r} (known: {', '.join(REQUESTER_KINDS)}; "
                "also hôpital, clinique, EHPAD, laboratoire, médecin, assistante sociale...)"
            )
        phones: list[str] | None = [] if has_phones else None
        for word in _split_phones(row.get("phones", "")) if has_phones else []:
            try:
                e164 = normalize_phone(word).e164
            except PhoneError as err:
                problems.append(f"phone {word!r}: {err}")
                continue
            if seen_phones.get(e164, line) != line:
                problems.append(f"phone {word!r} is already on line {seen_phones[e164]} (one requester per number)")
            elif e164 not in phones:
                phones.append(e164)
                seen_phones[e164] = line
        postcode = _postcode(session, row.get("postcode", ""), problems) if has_postcode else None
        if problems:
            result.errors.extend(RowError(line, p) for p in problems)
        else:
            valid.append(_RequesterRow(line, name, kind, phones, postcode))
    valid = _drop_taken_phones(session, valid, result)
    result.errors.sort(key=lambda e: e.line)
    if result.errors and not skip_invalid:
        return result
    _write_requesters(session, valid, result, has_postcode=has_postcode)
    return result


def _postcode(session: Session, value: str, problems: list[str]) -> str | None:
    postcode = value.replace(" ", "")
    if not postcode:
        return None
    if re.fullmatch(r"\d{4}", postcode):
        problems.append(f"postcode {postcode!r} has 4 digits: did the spreadsheet drop a leading zero (0{postcode})?")
    elif not re.fullmatch(r"\d{5}", postcode):
        problems.append(f"postcode {postcode!r} is not 5 digits")
    elif session.scalar(select(Postcode.insee).where(Postcode.postcode == postcode).limit(1)) is None:
        problems.append(f"unknown postcode {postcode!r}")
    return postcode


def _drop_taken_phones(session: Session, rows: list[_RequesterRow], result: ImportResult) -> list[_RequesterRow]:
    """A number may move between requesters of the file, never away from one the file does not name."""
    names_in_file = {r.name for r in rows}
    owners: dict[str, str] = {}
    for chunk in _chunks([p for r in rows for p in (r.phones or [])]):
        query = (
            select(RequesterPhone.phone, Requester.name)
            .join(Requester, Requester.id == RequesterPhone.requester_id)
            .where(RequesterPhone.phone.in_(chunk))
        )
        owners.update((phone, owner) for phone, owner in session.execute(query))
    kept = []
    for row in rows:
        taken = [p for p in row.phones or [] if owners.get(p, row.name) != row.name and owners[p] not in names_in_file]
        for phone in taken:
            result.errors.append(RowError(row.line, f"phone {phone} already belongs to requester {owners[phone]!r}"))
        if not taken:
            kept.append(row)
    return kept


def _split_phones(value: str) -> list[str]:
    """Numbers separated by ``;`` or ``,``, or by spaces (``04 77 00 00 01 04 77 00 00 02`` too).

    Within a part, words are joined until they make a valid number followed by the start of
    another (``0`` or ``+``); what is left is reported as written.
    """
    result: list[str] = []
    for part in (p.strip() for p in re.split(r"[;,/]", value)):
        words = part.split()
        buffer: list[str] = []
        for i, word in enumerate(words):
            buffer.append(word)
            following = words[i + 1] if i + 1 < len(words) else None
            if following is not None and not following.startswith(("0", "+")):
                continue
            try:
                normalize_phone(" ".join(buffer))
            except PhoneError:
                continue
            result.append(" ".join(buffer))
            buffer = []
        if buffer:
            result.append(" ".join(buffer))
    return result


def _write_requesters(session: Session, rows: list[_RequesterRow], result: ImportResult, *, has_postcode: bool) -> None:
    existing = {r.name: r for r in session.scalars(select(Requester).where(Requester.name.in_([r.name for r in rows])))}
    # Free the numbers first (their owner may be another row of the file), then hand them out.
    moving = sorted({p for r in rows for p in (r.phones or [])})
    for chunk in _chunks(moving):
        for phone in session.scalars(select(RequesterPhone).where(RequesterPhone.phone.in_(chunk))):
            session.delete(phone)
    for row in rows:
        requester = existing.get(row.name)
        if requester is not None and row.phones is not None:
            requester.phones.clear()
    session.flush()
    for row in rows:
        requester = existing.get(row.name)
        if requester is None:
            requester = Requester(name=row.name, kind=row.kind, postcode=row.postcode)
            session.add(requester)
            result.created += 1
        else:
            requester.kind = row.kind
            if has_postcode:
                requester.postcode = row.postcode
            result.updated += 1
        for phone in row.phones or []:
            requester.phones.append(RequesterPhone(phone=phone))
    session.flush()
