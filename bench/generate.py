"""Deterministic fictional people for benchmarks.

Everything here is invented: Flemish-sounding names built from syllables and a few common first
names, e-mail addresses only at ``example.org`` (unique per person), Belgian mobile numbers
(+32 47x..49x, valid per ``phonenumbers``), postal codes 1000-9999. The same ``(n, seed)`` always
gives the same people.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Iterator
from typing import Any

# fmt: off
GIVEN_NAMES = (
    "Lotte", "Jana", "Fien", "Lien", "Marieke", "Anouk", "Elien", "Griet", "Hanne", "Ilse",
    "Katrien", "Liesbeth", "Nele", "Sofie", "Wendelien", "Femke", "Roos", "Margot", "Lore",
    "Ine", "Saskia", "Veerle", "Tine", "Brecht", "Jens", "Pieter", "Wout", "Stijn", "Joris",
    "Bram", "Lander", "Sander", "Tuur", "Warre", "Korneel", "Maarten", "Thijs", "Jef", "Lieven",
    "Dries", "Toon", "Arne", "Seppe", "Wannes", "Ruben", "Jorne", "Kobe", "Rik", "Gert",
    "Hélène", "Amélie", "Noémie", "Benoît", "Jérôme", "Zoë", "Chloé", "Loïc",
)
_PREFIXES = ("Van ", "Van de ", "Van den ", "Van der ", "De ", "Ver", "")
_STEMS = (
    "Bruyn", "Kerck", "Wouw", "Maer", "Baet", "Hoeck", "Steen", "Driess", "Hulst", "Meul",
    "Velde", "Brug", "Looy", "Aerts", "Ryck", "Goes", "Dyck", "Poel", "Boss", "Leyn", "Straet",
    "Mortel", "Haegh", "Claes", "Gheer", "Wael", "Put", "Schoor", "Beke", "Linde",
)
_SUFFIXES = ("", "e", "ens", "mans", "aert", "hove", "ebeke", "elaere", "inck", "ier", "s")
STREETS = (
    "Kerkstraat", "Stationsstraat", "Molenstraat", "Dorpsstraat", "Nieuwstraat", "Schoolstraat",
    "Kapelstraat", "Veldstraat", "Beekstraat", "Lindelaan", "Kastanjedreef", "Begijnhofstraat",
    "Koutermolenweg", "Vlasgaardstraat", "Brouwerijstraat", "Heidebloemlaan", "Oude Baan",
    "Rue de l'Église", "Rue du Moulin", "Avenue des Tilleuls",
)
CITIES = (
    "Gent", "Antwerpen", "Brugge", "Leuven", "Mechelen", "Kortrijk", "Aalst", "Hasselt",
    "Sint-Niklaas", "Oostende", "Lier", "Geel", "Ronse", "Tielt", "Eeklo", "Deinze", "Brussel",
    "Namur", "Liège", "Tournai",
)
OTHER_COUNTRIES = ("NL", "FR", "DE", "LU")
LANGUAGES = ("nl", "fr", "en")
LANGUAGE_WEIGHTS = (70, 20, 10)
# fmt: on


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def family_name(rng: random.Random) -> str:
    return rng.choice(_PREFIXES) + rng.choice(_STEMS) + rng.choice(_SUFFIXES)


def mobile_number(rng: random.Random) -> str:
    """A Belgian mobile number written as ``+32 4xx xx xx xx`` (04xx prefixes 0470-0499)."""
    digits = f"{rng.randint(70, 99)}{rng.randrange(10**6):06d}"
    return f"+32 4{digits[:2]} {digits[2:4]} {digits[4:6]} {digits[6:]}"


def person(rng: random.Random, n: int) -> dict[str, Any]:
    given = rng.choice(GIVEN_NAMES)
    family = family_name(rng)
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(365 * 78))
    return {
        "given_name": given,
        "family_name": family,
        "email": f"{_ascii_slug(given)}.{_ascii_slug(family)}.{n}@example.org",
        "phone": mobile_number(rng) if rng.random() < 0.7 else None,
        "street_address": f"{rng.choice(STREETS)} {rng.randint(1, 250)}",
        "postal_code": str(rng.randint(1000, 9999)),
        "city": rng.choice(CITIES),
        "country": "BE" if rng.random() < 0.95 else rng.choice(OTHER_COUNTRIES),
        "birth_date": birth.isoformat(),
        "language": rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
    }


def iter_people(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(n):
        yield person(rng, i)


def people(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` fictional people; the same ``(n, seed)`` always gives the same list."""
    return list(iter_people(n, seed))


if __name__ == "__main__":
    import json
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for p in iter_people(count):
        print(json.dumps(p, ensure_ascii=False))
