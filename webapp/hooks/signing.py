"""Signing of webhook deliveries, and the check a receiver makes (plain Python, no Django).

The signature is HMAC-SHA256, keyed with the hook's secret, of ``"<timestamp>." + body``:
the timestamp (Unix seconds of the attempt, header ``X-Anomaly-Timestamp``) is part of the
signed material, so a captured request cannot be replayed later with a fresh timestamp,
and a receiver refuses timestamps too far from its clock. As Stripe and GitHub do, the
comparison is constant-time (``hmac.compare_digest``).

Receivers may copy :func:`verify` as it is::

    ok = verify(secret, request.body, request.headers["X-Anomaly-Timestamp"],
                request.headers["X-Anomaly-Signature"])
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Anomaly-Signature"
TIMESTAMP_HEADER = "X-Anomaly-Timestamp"
EVENT_HEADER = "X-Anomaly-Event"
DELIVERY_HEADER = "X-Anomaly-Delivery"
#: Receivers should refuse a timestamp further than this from their clock (seconds).
DEFAULT_TOLERANCE_S = 300
_SCHEME = "sha256="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Anomaly-Signature`` value: ``sha256=`` and the hex HMAC of ``t.body``."""
    signed = str(int(timestamp)).encode() + b"." + body
    return _SCHEME + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is ours for ``body`` at ``timestamp``, and that is recent.

    ``body`` must be the raw bytes received (re-serialised JSON would not match).
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature.strip())
