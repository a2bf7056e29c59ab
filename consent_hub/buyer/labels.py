"""Words for the codes the pages show (roles, audit actions, fields, statuses), in the buyer's
language through the catalogues. A code without a label is shown as it is."""

from __future__ import annotations

from consent_hub.i18n import translations


def tr(language: str, message: str) -> str:
    """``message`` in ``language`` (the catalogues' extraction knows ``tr``'s second argument)."""
    return translations(language).gettext(message)


def role_label(role: str | None, language: str) -> str:
    labels = {
        "box-office": tr(language, "box office"),
        "marketer": tr(language, "marketing"),
        "analyst": tr(language, "audience research"),
        "house-dpo": tr(language, "data protection officer of the house"),
        "cluster-dpo": tr(language, "data protection officer of the cluster"),
        "cluster-service": tr(language, "the cluster's own systems"),
        "cluster-operator": tr(language, "the cluster's operator"),
        "cluster-admin": tr(language, "the cluster's administrator"),
        "connector": tr(language, "a connected system"),
        "buyer": tr(language, "the sign-in page"),
    }
    return labels.get(role or "", role or "")


def action_label(action: str, language: str) -> str:
    labels = {
        "people.read": tr(language, "read your details"),
        "people.lookup": tr(language, "looked you up by e-mail address"),
        "people.create": tr(language, "recorded you as a buyer"),
        "people.update": tr(language, "changed your details"),
        "people.explain": tr(language, "checked why they may see you"),
        "people.erase": tr(language, "erased your data"),
        "people.restrict": tr(language, "restricted the use of your data"),
        "consent.read": tr(language, "read your choices"),
        "consent.history.read": tr(language, "read the history of your choices"),
        "consent.granted": tr(language, "recorded your consent"),
        "consent.refused": tr(language, "recorded your refusal"),
        "consent.withdrawn": tr(language, "recorded your withdrawal"),
        "relation.touch": tr(language, "recorded that you bought or subscribed there"),
        "audience.export": tr(language, "exported you in a mailing list"),
        "outbox.deliver": tr(language, "sent your data to a connected system"),
        "audit.read": tr(language, "read the access log"),
        "request.receive": tr(language, "received your request"),
    }
    return labels.get(action, action)


def field_label(name: str, language: str) -> str:
    labels = {
        "given_name": tr(language, "given name"),
        "family_name": tr(language, "family name"),
        "email": tr(language, "e-mail address"),
        "phone": tr(language, "phone number"),
        "street_address": tr(language, "street and number"),
        "postal_code": tr(language, "postal code"),
        "city": tr(language, "city"),
        "country": tr(language, "country"),
        "birth_date": tr(language, "date of birth"),
        "language": tr(language, "language"),
        "consents": tr(language, "your choices"),
        "relations": tr(language, "your houses"),
        "deliveries": tr(language, "deliveries"),
    }
    return labels.get(name, name)


def status_label(status: str | None, language: str) -> str:
    labels = {
        "granted": tr(language, "yes"),
        "refused": tr(language, "no"),
        "withdrawn": tr(language, "you withdrew it"),
        "expired": tr(language, "it has run out"),
        "pending": tr(language, "waiting to be sent"),
        "delivered": tr(language, "delivered to the system"),
        "dead": tr(language, "could not be delivered"),
        "superseded": tr(language, "replaced by a later change"),
    }
    return labels.get(status or "", status or "")


def request_status_label(status: str | None, language: str) -> str:
    """Where a data-subject request stands, in the buyer's words (a refused request is not a
    refused consent: its own words)."""
    labels = {
        "received": tr(language, "received"),
        "verified": tr(language, "being handled"),
        "in-progress": tr(language, "being handled"),
        "waiting-for-house": tr(language, "being handled"),
        "done": tr(language, "done"),
        "refused": tr(language, "refused, with reasons"),
        "withdrawn-by-person": tr(language, "withdrawn by you"),
    }
    return labels.get(status or "", status or "")


def sent_label(what: str, language: str) -> str:
    labels = {
        "upsert": tr(language, "your details and subscription"),
        "unsubscribe": tr(language, "your unsubscription"),
        "erase": tr(language, "the erasure of your data"),
        "restriction": tr(language, "the restriction of your data"),
        "restriction-lifted": tr(language, "the end of the restriction"),
        "nothing": tr(language, "nothing (no consent any more when it was due)"),
    }
    return labels.get(what, what)


def tries_left_text(language: str, tries: int) -> str:
    return translations(language).ngettext(
        "This code is not right. You can try %(num)d more time.",
        "This code is not right. You can try %(num)d more times.",
        tries,
    ) % {"num": tries}


def wait_text(language: str, minutes: int) -> str:
    return translations(language).ngettext(
        "You asked too often. Wait %(num)d minute and try again.",
        "You asked too often. Wait %(num)d minutes and try again.",
        minutes,
    ) % {"num": minutes}
