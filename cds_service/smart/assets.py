"""Everything the page loads is served by the service itself (the CSP names no other origin):
its stylesheet and script (static/), and the plotly.js bundle shipped inside the `plotly` Python
package (package_data/plotly.min.js, ~4.8 MB, ~1.5 MB gzipped).

URLs carry a digest of the content, so the files can be cached for a year (`immutable`) and a new
version is fetched at once. plotly.js is sent gzip-compressed to browsers that accept it,
compressed once per process on first use.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
OWN_FILES = ("summary.css", "summary.js", "plotly-base.css", "favicon.svg")
MIMETYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
# plotly.js also injects a map library's stylesheet when it loads, unless an element with the
# stylesheet's id is already in the page (map traces are not used here; the CSP would refuse it):
# the page carries an empty element with each such id found in the bundle.
_LOAD_TIME_STYLE = re.compile(r'getElementById\("([0-9a-f]{64})"\)\)\{var e=document\.createElement\("style"\)')
ONE_YEAR = 365 * 24 * 3600


def plotly_bundle() -> Path:
    """plotly.min.js of the installed `plotly` package (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed (pip install -e .)")
    path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"plotly.js bundle not found at {path}")
    return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class Assets:
    own: dict[str, tuple[str, bytes]]  # name -> (digest, content)
    plotly_path: Path
    plotly_digest: str
    plotly_style_ids: tuple[str, ...] = ()
    _plotly: bytes | None = None
    _plotly_gz: bytes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls) -> "Assets":
        own = {}
        for name in OWN_FILES:
            data = (STATIC_DIR / name).read_bytes()
            own[name] = (_digest(data), data)
        path = plotly_bundle()
        bundle = path.read_bytes()
        ids = tuple(dict.fromkeys(_LOAD_TIME_STYLE.findall(bundle.decode("utf-8", "replace"))))
        return cls(own, path, _digest(bundle), ids)

    def url(self, name: str) -> str:
        if name == "plotly.js":
            return f"/smart/static/plotly-{self.plotly_digest}.min.js"
        digest, _ = self.own[name]
        return f"/smart/static/{name}?v={digest}"

    def plotly(self, gzipped: bool) -> bytes:
        with self._lock:
            if self._plotly is None:
                self._plotly = self.plotly_path.read_bytes()
            if gzipped and self._plotly_gz is None:
                self._plotly_gz = gzip.compress(self._plotly, compresslevel=6, mtime=0)
            return self._plotly_gz if gzipped else self._plotly  # type: ignore[return-value]
