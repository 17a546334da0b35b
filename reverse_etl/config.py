"""Per-target sync settings: the sync mode and the change-share guard, with their overrides.

Precedence, highest first: the run's config (Dagster run config, or the caller's argument), the
target's environment variable, the all-targets environment variable (guard only), the default.

| variable | default | meaning |
| --- | --- | --- |
| ``Q2C_WRITEBACK_MODE_<TARGET>`` | the target's mode (``targets.py``) | ``upsert``, ``update_only`` or ``mirror`` |
| ``Q2C_WRITEBACK_MAX_CHANGE_SHARE`` | ``0.5`` | refuse a sync changing more than this share of the records last synced |
| ``Q2C_WRITEBACK_MAX_CHANGE_SHARE_<TARGET>`` | the above | the same, for one target |
| ``Q2C_WRITEBACK_BATCH_SIZE_<TARGET>`` | the sink's (200 CRM records a composite call, 50 Stripe items) | records per request batch (e.g. an org whose triggers time out on large batches) |

``<TARGET>`` is the target's name in upper case (``CRM_PAYMENT_STATUS``, ``BILLING_SCHEDULE``).
"""

from __future__ import annotations

import os

UPSERT, UPDATE_ONLY, MIRROR = "upsert", "update_only", "mirror"
MODES = (UPSERT, UPDATE_ONLY, MIRROR)
DEFAULT_MODE = UPSERT
DEFAULT_MAX_CHANGE_SHARE = 0.5


class SyncConfigError(ValueError):
    """A sync setting is not valid (names the setting, the value and what is allowed)."""


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def check_mode(mode: str, where: str = "mode") -> str:
    normalized = mode.strip().lower().replace("-", "_")
    if normalized not in MODES:
        raise SyncConfigError(f"{where}: unknown sync mode {mode!r}; expected one of {', '.join(MODES)}")
    return normalized


def check_share(value: float | str, where: str = "max_change_share") -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise SyncConfigError(f"{where}: {value!r} is not a number (a share such as 0.5)") from None
    if not 0 < share <= 1:
        raise SyncConfigError(f"{where}: {value!r} must be a share above 0 and at most 1 (0.5 = 50 %)")
    return share


def resolve_mode(target: str, default: str = DEFAULT_MODE, override: str | None = None) -> str:
    """The mode a sync of ``target`` runs in."""
    if override:
        return check_mode(override, f"mode of {target}")
    var = f"Q2C_WRITEBACK_MODE_{target.upper()}"
    if (value := _env(var)) is not None:
        return check_mode(value, var)
    return check_mode(default, f"default mode of {target}")


def resolve_max_change_share(target: str, override: float | None = None) -> float:
    """The largest share of the last synced records one sync of ``target`` may change."""
    if override is not None:
        return check_share(override, f"max_change_share of {target}")
    for var in (f"Q2C_WRITEBACK_MAX_CHANGE_SHARE_{target.upper()}", "Q2C_WRITEBACK_MAX_CHANGE_SHARE"):
        if (value := _env(var)) is not None:
            return check_share(value, var)
    return DEFAULT_MAX_CHANGE_SHARE


def resolve_batch_size(target: str, default: int, limit: int) -> int:
    """Records per batch for ``target``: ``Q2C_WRITEBACK_BATCH_SIZE_<TARGET>``, else ``default`` (1..``limit``)."""
    var = f"Q2C_WRITEBACK_BATCH_SIZE_{target.upper()}"
    value = _env(var)
    if value is None:
        return default
    try:
        size = int(value)
    except ValueError:
        raise SyncConfigError(f"{var}: {value!r} is not a whole number of records") from None
    if not 1 <= size <= limit:
        raise SyncConfigError(f"{var}: {value!r} must be between 1 and {limit}")
    return size
