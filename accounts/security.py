"""Who is knocking: the client address behind a configured number of proxies, and the lockout answer of the token API."""
from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or with LOUPE_TRUSTED_PROXY_COUNT = n > 0 the n-th address from the right of
    X-Forwarded-For (what the last trusted proxy saw); addresses further left are the client's own claim and ignored."""
    meta = getattr(request, "META", {})
    hops = settings.LOUPE_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return meta.get("REMOTE_ADDR", "")


def lockout_message() -> str:
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    return (f"Too many failed logins for this account or from this address. Try again in {minutes:g} minutes, "
            "or ask an administrator to lift the lock.")
