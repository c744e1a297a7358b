"""What every simulator route does first with a request: parse its JSON body leniently and
check its token. Shared by the API routes (:mod:`.app`) and the image routes (:mod:`.images`).

>>> loads(b"not json") is None
True
"""

from __future__ import annotations

import json
from typing import Any

from . import errors
from .errors import ApiError

__all__ = ["UNBOUND_TOKEN", "authenticate", "loads"]

UNBOUND_TOKEN = "ms-unbound"
"""A token the simulator treats as belonging to an account without Alibaba Cloud binding."""


def authenticate(header: str | None, token: str) -> ApiError | None:
    """None when ``header`` carries ``token``; else the error the real service gives."""
    scheme, _, given = (header or "").partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    if given == token:
        return None
    if given == UNBOUND_TOKEN:
        # reference: modelscope-api.md §2/§3.3, account without Alibaba Cloud binding
        return errors.unbound_account()
    if not given:
        # reference: modelscope-api.md §8.1, no token at all (2026): singular "error"
        return errors.missing_token()
    # reference: modelscope-api.md §8.1, invalid token (2026): "errors" with request_id inside
    return errors.invalid_token()


def loads(raw: bytes) -> Any:
    """The JSON body, or None when it is empty or not JSON (the routes answer that)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
