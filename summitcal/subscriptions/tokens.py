"""Subscriber tokens: signed with the secret key, revocable by version, never the address.

A token reads ``<subscriber id>.<version>.<signature>`` in URL-safe base64: the signature
is HMAC-SHA256 over (purpose, id, version) with the service's secret key, cut to 160
bits. Purposes keep tokens apart (a confirm token does not manage, a feed token does not
unsubscribe). Rotating a token bumps its version in the subscriber's row, so older tokens
stop matching. Links can be made at render time from the id alone, which is what lets one
``INSERT … SELECT`` queue reminders for thousands of subscribers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PURPOSES = ("confirm", "manage", "feed", "unsubscribe")
_SIGNATURE_BYTES = 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(secret: str, purpose: str, subscriber: int, version: int) -> bytes:
    message = f"summitcal:{purpose}:{subscriber}:{version}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def make_token(secret: str, purpose: str, subscriber: int, version: int = 1) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return f"{subscriber}.{version}.{_b64(_signature(secret, purpose, subscriber, version))}"


def read_token(secret: str, purpose: str, token: str) -> tuple[int, int] | None:
    """(subscriber id, version) when ``token`` is genuine for ``purpose``, else None.

    Only the one spelling ``make_token`` gives is accepted: no leading zeros or signs in
    the numbers, no padding or other base64 spelling of the same signature bytes (a token
    is also a cache key, a log entry and a link people compare). The caller still checks
    the version against the subscriber's current one."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 200 else []
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        return None
    subscriber, version = int(parts[0]), int(parts[1])
    expected = make_token(secret, purpose, subscriber, version) if purpose in PURPOSES else ""
    if not expected or not hmac.compare_digest(token.encode("ascii", "replace"),
                                               expected.encode("ascii")):
        return None
    return subscriber, version
