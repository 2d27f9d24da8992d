"""`gmg-cds-web`: the production web process, nginx in front of gunicorn (Procfile, container).

gunicorn's threaded worker gives a connection one of its threads as soon as the first bytes
arrive, and keeps it until the request has been read: a handful of clients sending headers or a
body slowly hold every thread (issue 15, F-1, F-7). gunicorn's documentation asks for a buffering
proxy in front for this reason. This process starts both, so the Procfile and the container
image are safe on their own:

- nginx (Debian's package) listens on `--bind` (default 0.0.0.0:$PORT) with
  `cds_service/nginx/gmg-cds.conf`: whole requests within timeouts, bodies buffered, its own
  refusals in JSON;
- gunicorn (cds_service/gunicorn_conf.py, the app preloaded) listens on a unix socket in a
  private directory, reachable only through nginx.

If either exits, the other is stopped and this process exits non-zero (the supervisor restarts
it). SIGTERM or SIGINT stop both gracefully. The configuration is checked before anything starts
(GMG_CDS_* settings, `nginx -t`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .settings import PUBLIC_BASE_URL_REQUIRED, ConfigError, Settings

SITE_CONF = Path(__file__).with_name("nginx") / "gmg-cds.conf"
DEFAULT_BODY_LIMIT = 16777216  # the value written in gmg-cds.conf
STOP_SECONDS = 20.0

MAIN_CONF = """\
# Written by gmg-cds-web (cds_service/web.py) at start; not edited by hand.
daemon off;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {run}/nginx.pid;
error_log stderr error;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {run}/client-body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    upstream gmg_cds_app {{ server unix:{run}/gunicorn.sock; keepalive 16; }}
    server {{
        listen {listen} backlog=1024;
        include {run}/gmg-cds.conf;
    }}
}}
"""


def find_nginx(given: str | None) -> str:
    for candidate in (given, os.environ.get("GMG_CDS_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("gmg-cds-web: nginx not found (Debian: apt-get install nginx; or --nginx PATH)")


def site_conf(max_body_bytes: int) -> str:
    """gmg-cds.conf with the body limit of GMG_CDS_MAX_BODY_BYTES."""
    text = SITE_CONF.read_text(encoding="utf-8")
    old = str(DEFAULT_BODY_LIMIT)
    if text.count(old) != 2:  # the directive and the 413 message
        raise SystemExit("gmg-cds-web: cds_service/nginx/gmg-cds.conf does not state the body limit twice")
    return text.replace(old, str(max_body_bytes))


def listen_address(bind: str) -> str:
    """nginx's `listen` for HOST:PORT ([::1]:PORT for IPv6)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SystemExit(f"gmg-cds-web: --bind must be HOST:PORT, got {bind!r}")
    return bind


def write_config(run: Path, bind: str, settings: Settings) -> Path:
    (run / "gmg-cds.conf").write_text(site_conf(settings.max_body_bytes), encoding="utf-8")
    conf = run / "nginx.conf"
    conf.write_text(MAIN_CONF.format(run=run, listen=listen_address(bind)), encoding="utf-8")
    return conf


def gunicorn_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", "python:cds_service.gunicorn_conf",
            "--bind", f"unix:{run}/gunicorn.sock", "cds_service.wsgi:app"]


def _stop(procs: list[subprocess.Popen]) -> None:
    """nginx first (stop taking requests), then gunicorn (finish what it has); kill stragglers."""
    for proc, sig in zip(procs, (signal.SIGQUIT, signal.SIGTERM)):
        if proc.poll() is None:
            proc.send_signal(sig)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gmg-cds-web", description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default=f"0.0.0.0:{os.environ.get('PORT', '8080')}",
                    help="address nginx listens on (default 0.0.0.0:$PORT)")
    ap.add_argument("--nginx", help="the nginx binary (default: GMG_CDS_NGINX, then nginx on PATH, /usr/sbin/nginx)")
    args = ap.parse_args(argv)
    try:
        settings = Settings.from_env()
        if settings.auth_required and not settings.audience_bases:
            raise ConfigError(PUBLIC_BASE_URL_REQUIRED)
    except ConfigError as exc:
        print(f"gmg-cds-web: configuration error: {exc}", file=sys.stderr)
        return 2
    nginx = find_nginx(args.nginx)
    run = Path(tempfile.mkdtemp(prefix="gmg-cds-web-"))
    if os.geteuid() == 0:  # nginx's workers then run as `nobody`: they must reach the socket
        run.chmod(0o711)
    try:
        conf = write_config(run, args.bind, settings)
        check = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(run), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            print(f"gmg-cds-web: nginx refused the configuration:\n{check.stderr}", file=sys.stderr)
            return 2
        stopping = False

        def on_signal(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        app = subprocess.Popen(gunicorn_command(run))
        proxy = subprocess.Popen([nginx, "-e", "stderr", "-p", str(run), "-c", str(conf)])
        procs = [proxy, app]
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.2)
        failed = [p for p in procs if p.poll() is not None]
        _stop(procs)
        if stopping:
            return 0
        print("gmg-cds-web: " + ", ".join(f"{'nginx' if p is proxy else 'gunicorn'} exited with {p.returncode}"
                                          for p in failed) + "; stopped the other", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
