"""The buyer's data as one document (JSON, GDPR Art. 20) and as a workbook (XLSX, one sheet a
topic), with what Art. 15(1) requires beside the data: per purpose the legal basis, the houses that
are controllers, the recipients, the retention, the source, and the buyer's rights, generated from
``policies/purposes.yaml`` and the cluster's configuration (never written by hand per buyer).

Workbook cells are text cells (a value starting with ``=`` stays text, never a formula) and times
are naive UTC under a "(UTC)" header: openpyxl refuses aware datetimes."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from consent_hub.clock import utcnow
from consent_hub.config import ClusterConfig
from consent_hub.consent.catalogue import Catalogue, Purpose
from consent_hub.consent.states import StateView
from consent_hub.i18n import translations
from consent_hub.storage.models import (
    ConsentEvent,
    DataSubjectRequest,
    Event,
    House,
    Notice,
    OutboxDelivery,
    ProgramMembership,
    Relation,
    Sale,
)


@dataclass(frozen=True)
class AccessLine:
    seq: int
    at: dt.datetime
    action: str
    house: str | None
    role: str | None
    purpose: str | None
    fields: list[str]


ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$")


def tr(language: str, message: str) -> str:
    """``message`` in ``language`` (the catalogues' extraction knows ``tr``'s second argument)."""
    return translations(language).gettext(message)


def kind_label(kind: str, language: str) -> str:
    labels = {
        "access": tr(language, "access to my data"),
        "portability": tr(language, "a copy of my data to take elsewhere"),
        "rectification": tr(language, "correct my data"),
        "erasure": tr(language, "erase my data"),
        "restriction": tr(language, "restrict the use of my data"),
        "objection": tr(language, "object to a use of my data"),
    }
    return labels.get(kind, kind)


def legal_basis_label(basis: str, language: str) -> str:
    labels = {
        "consent": tr(language, "your consent (GDPR Art. 6(1)(a)); you can withdraw it at any time"),
        "contract": tr(language, "the contract with you, e.g. your tickets (GDPR Art. 6(1)(b))"),
        "legitimate-interest": tr(language, "a legitimate interest (GDPR Art. 6(1)(f)); you can object"),
        "legal-obligation": tr(language, "a legal obligation (GDPR Art. 6(1)(c))"),
    }
    return labels[basis]


def retention_label(duration: str, language: str) -> str:
    match = ISO.match(duration)
    if not match:
        return duration
    years, months, days = (int(g) if g else 0 for g in match.groups())
    parts = []
    if years:
        parts.append(translations(language).ngettext("%(num)d year", "%(num)d years", years) % {"num": years})
    if months:
        parts.append(translations(language).ngettext("%(num)d month", "%(num)d months", months) % {"num": months})
    if days:
        parts.append(translations(language).ngettext("%(num)d day", "%(num)d days", days) % {"num": days})
    return ", ".join(parts)


def art15(
    cluster: str, config: ClusterConfig, catalogue: Catalogue, houses: Sequence[House], language: str
) -> dict[str, Any]:
    """GDPR Art. 15(1)(a)-(h) for every purpose of the catalogue, from the catalogue and the cluster's configuration."""
    all_houses = [h.name for h in houses]
    sources = [tr(language, "you, on a house's website, at its box office or on these pages")]
    for connector in config.connectors.values():
        sources.append(tr(language, "the cluster's ticketing system (%(kind)s)") % {"kind": connector.kind})
    purposes = []
    for purpose in catalogue.purposes:
        recipients = [
            f"{name} ({dest.kind}, {dest.house or cluster})"
            for name, dest in sorted(config.destinations.items())
            if dest.purpose == purpose.key
        ] + list(purpose.recipients)
        purposes.append(
            {
                "purpose": purpose.key,
                "title": purpose.texts[language].title,
                "notice": purpose.texts[language].notice,
                "legal_basis": purpose.legal_basis,
                "legal_basis_explained": legal_basis_label(purpose.legal_basis, language),
                "controllers": _controllers(purpose, all_houses, language),
                "categories_of_data": list(purpose.field_groups),
                "recipients": recipients,
                "retention": purpose.retention,
                "retention_explained": retention_label(purpose.retention, language),
                "pseudonymised": purpose.pseudonymised,
            }
        )
    return {
        "controllers": tr(language, "The houses of the cluster %(cluster)s, as joint controllers: %(houses)s")
        % {"cluster": config.display_name or cluster, "houses": ", ".join(all_houses)},
        "purposes": purposes,
        "sources": sources,
        "your_rights": [
            tr(language, "You can see and download your data (GDPR Art. 15 and 20)."),
            tr(
                language,
                "You can ask to correct your data (Art. 16), to erase it (Art. 17) or to restrict its use (Art. 18).",
            ),
            tr(language, "You can object to a use of your data, and always to direct marketing (Art. 21)."),
            tr(language, "You can withdraw a consent at any time; what was done before stays lawful (Art. 7(3))."),
            tr(language, "You can complain to the supervisory authority: %(authority)s.")
            % {"authority": _authority(config)},
        ],
        "automated_decisions": tr(language, "No decision about you is made by automated means alone."),
        "third_countries": tr(language, "Your data is not transferred outside the European Economic Area."),
        "dpo_contact": config.buyer.dpo_contact if config.buyer else "",
    }


def _authority(config: ClusterConfig) -> str:
    return config.buyer.supervisory_authority if config.buyer else ""


def _controllers(purpose: Purpose, all_houses: list[str], language: str) -> str:
    if purpose.scope in ("own-house", "house"):
        return tr(language, "each house you bought from or gave this consent to")
    if purpose.scope == "program":
        return tr(language, "the houses of the joint programme")
    if purpose.scope == "recipient":
        return tr(language, "the houses of the cluster; the recipient receives pseudonymised data only")
    return ", ".join(all_houses)


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def assemble(
    *,
    cluster: str,
    config: ClusterConfig,
    catalogue: Catalogue,
    language: str,
    profile: dict[str, str | None],
    person_status: str,
    houses: Sequence[House],
    relations: Sequence[tuple[str, Relation]],
    sales: Sequence[tuple[str, Sale, Event | None]],
    memberships: Sequence[tuple[str, ProgramMembership]],
    states: Sequence[StateView],
    events: Sequence[ConsentEvent],
    notices: dict[Any, Notice],
    deliveries: Sequence[OutboxDelivery],
    accesses: Sequence[AccessLine],
    requests: Sequence[DataSubjectRequest],
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "generated_at": _iso(utcnow().replace(microsecond=0)),
        "profile": {"status": person_status, **profile},
        "relations": [
            {
                "house": slug,
                "kind": r.kind,
                "program": r.program or None,
                "first_seen": _iso(r.first_seen),
                "last_seen": _iso(r.last_seen),
            }
            for slug, r in relations
        ],
        "purchases": [
            {
                "house": slug,
                "event": e.title if e else None,
                "performance": _iso(e.starts_at) if e else None,
                "ticket_type": s.ticket_type,
                "tickets": s.ticket_count,
                "price_eur": s.price / 100,
                "channel": s.channel,
                "sold_at": _iso(s.sold_at),
            }
            for slug, s, e in sales
        ],
        "memberships": [
            {
                "house": slug,
                "program": m.program,
                "sold_at": _iso(m.sold_at),
                "expires_at": _iso(m.expires_at),
                "cancelled": m.cancelled,
            }
            for slug, m in memberships
        ],
        "consents": [
            {
                "purpose": v.state.purpose,
                "target": f"{v.state.target_kind}:{v.state.target_ref}",
                "status": v.effective_status,
                "given_at": _iso(v.state.given_at),
                "expires_at": _iso(v.state.expires_at),
            }
            for v in states
        ],
        "consent_history": [
            {
                "purpose": e.purpose,
                "target": f"{e.target_kind}:{e.target_ref}",
                "status": e.status,
                "channel": e.channel,
                "language": e.language,
                "given_at": _iso(e.given_at),
                "recorded_at": _iso(e.recorded_at),
                "notice_version": notices[e.notice_id].version if e.notice_id in notices else None,
                "notice_sha256": e.notice_sha256,
                "notice_title": notices[e.notice_id].title if e.notice_id in notices else None,
                "notice_text": notices[e.notice_id].text if e.notice_id in notices else None,
            }
            for e in events
        ],
        "deliveries": [
            {
                "destination": d.destination,
                "what": d.sent_as or d.kind,
                "status": d.status,
                "created_at": _iso(d.created_at),
                "delivered_at": _iso(d.delivered_at),
                "receipt": d.receipt,
            }
            for d in deliveries
        ],
        "accesses": [
            {
                "at": _iso(a.at),
                "action": a.action,
                "house": a.house,
                "role": a.role,
                "purpose": a.purpose,
                "fields": a.fields,
            }
            for a in accesses
        ],
        "requests": [
            {
                "reference": r.reference,
                "kind": r.kind,
                "status": r.status,
                "received_at": _iso(r.received_at),
                "due_at": _iso(r.extended_due_at or r.due_at),
            }
            for r in requests
        ],
        "information": art15(cluster, config, catalogue, houses, language),
    }


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


SHEETS = (
    "profile",
    "relations",
    "purchases",
    "memberships",
    "consents",
    "consent_history",
    "deliveries",
    "accesses",
    "requests",
)


def _cell_value(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    return value


def _naive_utc(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


TIME_KEYS = ("_at", "first_seen", "last_seen", "performance")


def to_xlsx(data: dict[str, Any]) -> bytes:
    """One sheet a topic; every string a text cell, times naive UTC under a "(UTC)" header."""
    book = Workbook(write_only=True)
    for topic in SHEETS:
        sheet = book.create_sheet(topic)
        rows = [data[topic]] if topic == "profile" else data[topic]
        if topic == "profile":
            rows = [{"field": k, "value": v} for k, v in data["profile"].items()]
        keys = list(rows[0]) if rows else ["(none)"]
        timed = {k for k in keys if k.endswith(TIME_KEYS)}
        sheet.append([f"{k} (UTC)" if k in timed else k for k in keys])
        for row in rows:
            cells = []
            for key in keys:
                value = _cell_value(row.get(key))
                if key in timed and isinstance(value, str) and value:
                    moment = _naive_utc(value)
                    cell = WriteOnlyCell(sheet, value=moment if moment is not None else value)
                    if moment is not None:
                        cell.number_format = "yyyy-mm-dd hh:mm:ss"
                    else:
                        cell.data_type = "s"
                elif isinstance(value, str):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                else:
                    cell = WriteOnlyCell(sheet, value=value)
                cells.append(cell)
            sheet.append(cells)
    info = data["information"]
    sheet = book.create_sheet("information")
    for line in (info["controllers"], *info["your_rights"], info["automated_decisions"], info["third_countries"]):
        cell = WriteOnlyCell(sheet, value=line)
        cell.data_type = "s"
        sheet.append([cell])
    purposes = book.create_sheet("purposes")
    keys = ["purpose", "title", "legal_basis_explained", "controllers", "recipients", "retention_explained", "notice"]
    purposes.append(keys)
    for p in info["purposes"]:
        cells = []
        for key in keys:
            cell = WriteOnlyCell(purposes, value=_cell_value(p[key]))
            cell.data_type = "s"
            cells.append(cell)
        purposes.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
