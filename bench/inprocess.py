"""In-process timing of one hook call, as `scripts/bench` sends it (production profile, a fresh
ES384 JWT per request, SQLite jti table), without gunicorn and sockets: the fixed cost per call
and where it goes. Not part of the tests.

    python -m bench.inprocess [--repeat N] [--sizes 50,500] [--profile] [--stages]
                              [--concept-map-elements 5000] [--cpu]

`--stages` times the pieces separately over the same requests (authenticator, body parse and
validation, record + assessment, card builders, Card.to_json, the whole WSGI call).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

URL = "http://localhost/cds-services/gmg-patient-view"


# The clock the figures are taken with: wall time, or (--cpu) this process's CPU time, which
# other processes on a loaded machine disturb much less (it leaves out waiting for a core).
_clock: Callable[[], float] = time.perf_counter


def _median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = _clock()
        fn()
        times.append((_clock() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.9 * len(times)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--sizes", default="50,500")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--concept-map-elements", type=int, default=0,
                    help="load a generated site ConceptMap of N elements (GMG_CDS_CONCEPT_MAPS)")
    ap.add_argument("--cpu", action="store_true",
                    help="time with this process's CPU time instead of wall time (steadier on a loaded machine)")
    args = ap.parse_args(argv)
    global _clock
    if args.cpu:
        _clock = time.process_time

    from bench.auth import production_env
    from bench.service import build_request, synthea_pool

    tmp = Path(tempfile.mkdtemp(prefix="gmg-inproc-"))
    env, auth = production_env(tmp, "http://127.0.0.1:9/fhir", "http://localhost")
    env["GMG_CDS_DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    env["GMG_CDS_LOG_LEVEL"] = os.environ.get("GMG_CDS_LOG_LEVEL", "WARNING")
    if args.concept_map_elements:
        from bench.concept_map import write_concept_map

        env["GMG_CDS_CONCEPT_MAPS"] = str(write_concept_map(args.concept_map_elements, tmp))
    os.environ.update(env)
    print(f"site concept maps: {os.environ.get('GMG_CDS_CONCEPT_MAPS') or 'none'}")

    from cds_service.app import create_app

    app = create_app()
    gc.collect()
    gc.freeze()  # as gunicorn_conf.pre_fork does
    client = app.test_client()
    pool = synthea_pool()
    for size in (int(s) for s in args.sizes.split(",")):
        body, count = build_request(size, pool)
        data = json.dumps(body).encode()

        def call() -> None:
            r = client.post("/cds-services/gmg-patient-view", data=data,
                            headers={"Content-Type": "application/json", **auth(URL)})
            assert r.status_code == 200, r.status_code

        for _ in range(20):
            call()
        # the JWT is minted by the client: time it apart and subtract
        mint, _ = _median_ms(lambda: auth(URL), args.repeat)
        med, p90 = _median_ms(call, args.repeat)
        print(f"~{size} ({count} resources): whole call {med - mint:.2f} ms median (p90 {p90 - mint:.2f}), "
              f"client JWT minting {mint:.2f} ms subtracted")
        if args.stages:
            _stages(app, body, data, auth, args.repeat)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.repeat):
                call()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "40")))
            print(out.getvalue())
    return 0


def _stages(app: Any, body: dict[str, Any], data: bytes, auth: Any, repeat: int) -> None:
    import orjson

    from cds_service import validation
    from hooks import context
    from hooks.i18n import use_language
    from hooks.patient_view import CARD_BUILDERS
    from hooks.registry import HookCall

    authenticator = app.before_request_funcs[None][0]  # noqa: F841 (for reference)
    from cds_service.auth import build_authenticator

    settings = app.config["GMG_SETTINGS"]
    verify = build_authenticator(settings, app.config["GMG_STORE"]).verifier.verify  # type: ignore[attr-defined]
    tokens = [auth(URL)["Authorization"] for _ in range(repeat)]
    it = iter(tokens)
    print(f"  authenticator (verify + jti) {_median_ms(lambda: verify(next(it), URL), repeat)[0]:.3f} ms")
    print(f"  orjson.loads                 {_median_ms(lambda: orjson.loads(data), repeat)[0]:.3f} ms")
    print(f"  request schema validation    "
          f"{_median_ms(lambda: validation.first_error('request.json', body), repeat)[0]:.3f} ms")
    from datetime import date

    call = HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance=body["hookInstance"],
                    context=body["context"], prefetch=body["prefetch"], unavailable=frozenset(),
                    today=date.today(), language="en")
    print(f"  context.evaluate             {_median_ms(lambda: context.evaluate(call), repeat)[0]:.3f} ms")
    ev = context.evaluate(call)

    def build() -> list[Any]:
        with use_language("en"):
            return [c for b in CARD_BUILDERS for c in b(ev.record, ev.assessment, ev.params)]

    print(f"  card builders                {_median_ms(build, repeat)[0]:.3f} ms")
    cards = build()
    print(f"  Card.to_json ({len(cards)} cards)       "
          f"{_median_ms(lambda: [c.to_json() for c in cards], repeat)[0]:.3f} ms")
    js = [c.to_json() for c in cards]
    print(f"  orjson.dumps response        {_median_ms(lambda: orjson.dumps({'cards': js}), repeat)[0]:.3f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
