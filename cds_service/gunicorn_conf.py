"""gunicorn settings shared by the Procfile (production) and scripts/serve (local).

Threaded workers: a hook call may wait on the EHR's FHIR server, so each worker serves several
calls at once; the CPU-bound part is small. The app is loaded once in the master (preload), so
terminology, schemas and parameters are parsed once and shared copy-on-write.
"""

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


def post_fork(server, worker):  # noqa: ANN001, ANN201
    from cds_service.wsgi import app

    app.config["GMG_STORE"].after_fork()
