"""Events a TRL run reports to Anneal: one JSON object per stdout line, after the `@anneal ` marker.

The other end is daemon/trl/events.ts (the same kinds and fields, mirroring daemon/engine/api.ts's
TrainEvents); every other stdout/stderr line is the run's log. Only the main process reports.
"""
import json
import math
import os
import sys

MARKER = "@anneal "


def _clean(value):
    """JSON-safe numbers: NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


_orphaned = False


def set_orphaned() -> None:
    """Nobody reads stdout any more (the daemon's worker died): later events are dropped, and stdout is
    pointed at /dev/null so that no write (or the interpreter's final flush) fails."""
    global _orphaned
    _orphaned = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def emit(kind: str, **fields) -> None:
    """Writes one event line (flushed: the reader streams it while training runs)."""
    if _orphaned:
        return
    try:
        sys.stdout.write(MARKER + json.dumps({"kind": kind, **_clean(fields)}, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        set_orphaned()
