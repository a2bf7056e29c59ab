"""Words for the codes the console shows (anomaly rules, request statuses, kinds and channels),
in the DPO's language through the catalogues. Audit actions, roles and purposes are shown as
their codes: they are what the log, the API and the reports say, and what a DPO searches for."""

from __future__ import annotations

from consent_hub.i18n import translations


def tr(language: str, message: str) -> str:
    """``message`` in ``language`` (the catalogues' extraction knows ``tr``'s second argument)."""
    return translations(language).gettext(message)


def rule_title(rule: str, language: str) -> str:
    labels = {
        "peer-reads": tr(language, "A client reads far more profiles than its peers"),
        "off-hours": tr(language, "Profiles read outside the house's hours"),
        "export-size": tr(language, "Exports of unusual size"),
        "miss-burst": tr(language, "A burst of lookups that find nobody"),
    }
    return labels.get(rule, rule)


def request_status_label(status: str | None, language: str) -> str:
    labels = {
        "received": tr(language, "received"),
        "verified": tr(language, "identity verified"),
        "in-progress": tr(language, "in progress"),
        "waiting-for-house": tr(language, "waiting for a house"),
        "done": tr(language, "done"),
        "refused": tr(language, "refused, with the reason"),
        "withdrawn-by-person": tr(language, "withdrawn by the person"),
    }
    return labels.get(status or "", status or "")


def kind_label(kind: str, language: str) -> str:
    labels = {
        "access": tr(language, "access (Art. 15)"),
        "portability": tr(language, "portability (Art. 20)"),
        "rectification": tr(language, "rectification (Art. 16)"),
        "erasure": tr(language, "erasure (Art. 17)"),
        "restriction": tr(language, "restriction (Art. 18)"),
        "objection": tr(language, "objection (Art. 21)"),
    }
    return labels.get(kind, kind)


def channel_label(channel: str, language: str) -> str:
    labels = {
        "mail": tr(language, "by post or e-mail"),
        "box-office": tr(language, "at the counter"),
        "web": tr(language, "on the buyer's pages"),
        "api": tr(language, "through the API"),
    }
    return labels.get(channel, channel)
