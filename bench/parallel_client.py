"""A plain client for the fallback reference line of `scripts/bench`: sends the given searches
all at once (one thread and connection each, requests + orjson, nothing else) and prints the
median over 7 rounds of the time until the last response is parsed, in ms.

    python -m bench.parallel_client BASE Type1,Type2,... PATIENT_ID
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import requests


def main(argv: list[str]) -> int:
    base, types, patient = argv[0], argv[1].split(","), argv[2]
    sessions = {t: requests.Session() for t in types}

    def one(rtype: str) -> None:
        orjson.loads(sessions[rtype].get(f"{base}/{rtype}?patient={patient}", timeout=10).content)

    rounds = []
    with ThreadPoolExecutor(len(types)) as pool:
        list(pool.map(one, types))  # connections opened
        for _ in range(7):
            t = time.perf_counter()
            list(pool.map(one, types))
            rounds.append((time.perf_counter() - t) * 1000)
    print(f"{statistics.median(rounds):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
