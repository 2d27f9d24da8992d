"""How the benchmark authenticates to the service (replaced once JWT verification lands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def production_env(tmp: Path) -> tuple[dict[str, str], Callable[[str], dict[str, str]] | None]:
    return {"GMG_CDS_ENV": "local"}, None
