"""gunicorn settings shared by the production web process (gmg-cds-web: gunicorn on a unix
socket behind nginx, cds_service/web.py) and scripts/serve (local: gunicorn alone on loopback).

Threaded workers: a hook call may wait on the EHR's FHIR server, so each worker serves several
calls at once; the CPU-bound part is small. A thread is held from a request's first bytes to its
answer, so gunicorn must not face clients directly in production: nginx reads each request whole
first (cds_service/nginx/gmg-cds.conf). The app is loaded once in the master (preload), so
terminology, schemas and parameters are parsed once and shared copy-on-write.
"""

import gc
import multiprocessing
import os

workers = int(os.environ.get("GMG_CDS_WORKERS", multiprocessing.cpu_count()))
# gunicorn's gthread worker, answering gunicorn's own refusals (request line or headers over the
# limits below, unparseable requests) in JSON like the app (cds_service/gunicorn_worker.py).
worker_class = "cds_service.gunicorn_worker.ThreadWorker"
threads = int(os.environ.get("GMG_CDS_THREADS", "4"))
preload_app = True
timeout = 30
graceful_timeout = 10
keepalive = 5
# Request lines can carry ids in query strings; the service writes its own structured request log.
accesslog = None
errorlog = "-"
loglevel = "warning"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Neither Host nor X-Forwarded-* / Forwarded is trusted, from any peer (a unix socket peer
# included, which gunicorn would otherwise trust unconditionally): the scheme stays what the
# socket is, and the JWT audience comes from GMG_CDS_PUBLIC_BASE_URL (cds_service/settings.py).
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""


# Cyclic GC: a request body of thousands of resources is hundreds of thousands of dicts and
# lists, and every full collection also walks the whole preloaded heap (terminology, schemas,
# fhir.resources model classes: ~180k objects). Measured in-process at 5,000 resources: 300 ms
# per call with the defaults, 160 ms with the preloaded heap frozen. So: collect and freeze
# once before forking (frozen objects are never scanned again, and pages stay shared
# copy-on-write). The thresholds stay at their defaults: a gen-0 threshold of 50,000 was
# measured slower at 5,000 resources (104 ms vs 73 ms in-process), no better at 50 and 500.
# While a hook call is being answered no pass runs at all: cds_service/collector.py defers it
# until the answer has gone and the body has been freed.


def pre_fork(server, worker):  # noqa: ANN001, ANN201
    gc.collect()
    gc.freeze()


# Metrics (cds_service/metrics.py): workers write to one multiprocess directory per server,
# prepared here, before the app is preloaded; /metrics sums all workers, dead ones included.
from cds_service import metrics as _metrics  # noqa: E402  (stdlib only at import)

_metrics.prepare_multiprocess_dir()


def child_exit(server, worker):  # noqa: ANN001, ANN201
    _metrics.worker_exited(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201
    _metrics.remove_multiprocess_dir()


def post_fork(server, worker):  # noqa: ANN001, ANN201
    from cds_service.wsgi import app

    app.config["GMG_STORE"].after_fork()
