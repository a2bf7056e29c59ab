"""Keyed blind indexes for equality lookups over encrypted fields.

Index = HMAC-SHA256 under a per-column key derived (HKDF) from the cluster's blind-index key, over
the normalised value. Indexes are kept at full length (not truncated as CipherSweet suggests)
because the suppression list must match an erased e-mail exactly, with no false positives; the
index key never sits in the database, so a stolen dump cannot test guesses.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

EMAIL_INDEX = "people.email"
PHONE_INDEX = "people.phone"
ENGINE_RECORD_MAC = "engine.record"  # change detection of engine records, never a lookup
EXCHANGE_PSEUDONYM = "exchange.pseudonym"  # per-export pseudonyms for outside recipients
AUDIENCE_NOISE = "audience.noise"  # seeds of the noise added to audience counts
LANGUAGE_INDEX = "people.language"  # coarse: segment filters only
POSTAL_AREA_INDEX = "people.postal_area"  # coarse: segment filters only
BUYER_SECRETS = "buyer.secrets"  # keyed hashes of sign-in tokens, codes and session ids (issue 14)
DPO_SECRETS = "dpo.secrets"  # keyed hashes of the DPO console's session ids and CSRF tokens (issue 15)


class BlindIndexer:
    __slots__ = ("_keys",)

    def __init__(self, root_key: bytes, cluster: str) -> None:
        self._keys = {
            name: HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"consent-hub/blind-index/v1|" + cluster.encode() + b"|" + name.encode(),
            ).derive(root_key)
            for name in (
                EMAIL_INDEX,
                PHONE_INDEX,
                ENGINE_RECORD_MAC,
                EXCHANGE_PSEUDONYM,
                AUDIENCE_NOISE,
                LANGUAGE_INDEX,
                POSTAL_AREA_INDEX,
                BUYER_SECRETS,
                DPO_SECRETS,
            )
        }

    def index(self, name: str, normalised: str) -> bytes:
        return hmac.new(self._keys[name], normalised.encode("utf-8"), hashlib.sha256).digest()

    def email(self, normalised_email: str) -> bytes:
        return self.index(EMAIL_INDEX, normalised_email)

    def phone(self, e164: str) -> bytes:
        return self.index(PHONE_INDEX, e164)


def language_form(language: str) -> str:
    """A language tag reduced to its language (``fr-BE`` -> ``fr``)."""
    return language.split("-")[0].lower()


def postal_area_form(postal_code: str, country: str | None) -> str:
    """A postal code reduced to its area: country and first two characters (``BE:85``)."""
    return f"{(country or 'BE').upper()}:{postal_code.replace(' ', '').upper()[:2]}"
