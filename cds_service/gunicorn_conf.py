"""gunicorn settings shared by the Procfile (production) and scripts/serve (local).

Threaded workers: a hook call may wait on the EHR's FHIR server, so each worker serves several
calls at once; the CPU-bound part is small. The app is loaded once in the master (preload), so
terminology, schemas and parameters are parsed once and shared copy-on-write.
"""

import gc
import multiprocessing
import os

workers = int(os.environ.get("GMG_CDS_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
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
