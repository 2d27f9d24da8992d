"""The floor: the least a CDS service can do with the same request. It parses the body with
json.loads and returns one static card; it runs under the same gunicorn settings as the service,
so service/floor isolates the cost of our own work."""

import json

from flask import Flask, Response, request

app = Flask("floor")
CARD = json.dumps({"cards": [{
    "uuid": "00000000-0000-4000-8000-000000000000", "summary": "floor", "indicator": "info",
    "source": {"label": "floor"}, "extension": {"gmg-cds": {"findings": [{"code": "floor"}]}}}]})


@app.post("/cds-services/<service_id>")
def invoke(service_id: str) -> Response:
    body = json.loads(request.get_data())
    assert isinstance(body, dict)
    return Response(CARD, mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response('{"status":"ok"}', mimetype="application/json")
