# gmg-cds container: the Procfile's web process (gmg-cds-web: nginx in front of gunicorn, so slow
# or greedy clients never hold a gunicorn thread), as a non-root user.
# Build: docker build -t gmg-cds .   Run: docker run -p 8080:8080 -e GMG_CDS_ENV=production \
#   -e GMG_CDS_PUBLIC_BASE_URL=https://cds.example.org \
#   -e GMG_CDS_TRUSTED_ISSUERS=/config/issuers.json -v /srv/gmg-cds:/data gmg-cds
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=8080 \
    GMG_CDS_ENV=production \
    GMG_CDS_DATABASE_URL=sqlite:////data/gmg-cds.sqlite3

# nginx from Debian (the base image's distribution): the buffering front of cds_service/web.py.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system gmg && useradd --system --gid gmg --home-dir /app --shell /usr/sbin/nologin gmg \
    && mkdir -p /app /data && chown gmg:gmg /data

WORKDIR /app
COPY pyproject.toml README.md Procfile ./
COPY cds_service ./cds_service
COPY hooks ./hooks
COPY fhir_mappings ./fhir_mappings
COPY terminology ./terminology
COPY gmg ./gmg
COPY demo ./demo
RUN pip install --no-cache-dir . && chown -R gmg:gmg /app

USER gmg
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/healthz', timeout=2)"
# The Procfile's web process.
CMD ["sh", "-c", "exec gmg-cds-web --bind 0.0.0.0:${PORT}"]
