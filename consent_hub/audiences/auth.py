"""Who may maintain the segment bitmaps (segments themselves are checked by the access grant)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.errors import Forbidden


def require_bitmap_maintainer(actor: Actor) -> None:
    if actor.role not in roles.BITMAP_MAINTAINERS:
        raise Forbidden("only the cluster's operators refresh segment bitmaps")
