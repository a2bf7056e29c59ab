"""Lookup timing (issue 11, point 4): an unknown address against a person the caller cannot see.

Run from the repository root::

    .venv/bin/python -m bench.bench_lookup_timing                        # PostgreSQL and SQLite
    .venv/bin/python -m bench.bench_lookup_timing --samples 400 --backends postgresql

A fresh bench cluster (``bench.bench_vault.cluster``) gets two houses, ``--people`` buyers who are
customers of house A only, and a box-office key of house C. The hub is served by uvicorn on a free
loopback port (in this process, one worker); one persistent httpx client then posts
``/v1/people/lookup`` alternately for an unknown address and for an existing buyer invisible to
house C (A B A B ..., so that drift hits both alike), after a warm-up. Both must answer the same
404. Reported: the medians, their difference and a bootstrap 95 % interval of that difference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from bench.bench_vault import CLUSTER, cluster, console
from consent_hub import roles
from consent_hub.access.service import RelationService
from consent_hub.actors import Actor
from consent_hub.app import create_app
from consent_hub.clients.service import ClientService
from consent_hub.houses.service import HouseService
from consent_hub.people.service import PeopleService

TARGET_MS = 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bootstrap_ci(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    rng = random.Random(11)
    diffs = sorted(
        statistics.median(rng.choices(b, k=len(b))) - statistics.median(rng.choices(a, k=len(a))) for _ in range(rounds)
    )
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds)]


def run(backend: str, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, cluster(backend, args.pg_url, Path(tmp)) as (registry, _plain):
        operator = Actor.cli(CLUSTER)
        with registry.unit_of_work(CLUSTER) as uow:
            for slug in ("huis-a", "huis-c"):
                HouseService(uow).add(operator, {"slug": slug, "name": slug})
            key = (
                ClientService(uow)
                .add(
                    operator,
                    {
                        "name": "bench box office",
                        "role": roles.BOX_OFFICE,
                        "house": "huis-c",
                        "agreement": "BENCH",
                        "expires": dt.date.today() + dt.timedelta(days=2),
                    },
                )
                .api_key
            )
        rows = [
            {"given_name": f"Bench{i}", "family_name": "Koper", "email": f"bench.koper.{i}@example.org"}
            for i in range(args.people)
        ]
        with registry.unit_of_work(CLUSTER) as uow:
            ids = PeopleService(uow).bulk_create(operator, rows).created
            relations = RelationService(uow)
            for pid in ids:
                relations.touch(operator, pid, "huis-a", "customer", reason="data-migration")

        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(registry.settings, registry), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        unknown_ms: list[float] = []
        invisible_ms: list[float] = []
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client:
                rng = random.Random(5)

                def ask(email: str) -> float:
                    started = time.perf_counter()
                    resp = client.post("/v1/people/lookup", json={"email": email, "purpose": "ticketing-service"})
                    elapsed = (time.perf_counter() - started) * 1000
                    if resp.status_code != 404:
                        raise SystemExit(f"expected 404, got {resp.status_code}")
                    return elapsed

                for i in range(args.warmup):
                    ask(f"nobody.{i}@example.org")
                    ask(rows[rng.randrange(len(rows))]["email"])
                stop_at = time.monotonic() + args.max_seconds
                for i in range(args.samples):
                    if time.monotonic() > stop_at:
                        break
                    unknown_ms.append(ask(f"nobody.{args.warmup + i}@example.org"))
                    invisible_ms.append(ask(rows[rng.randrange(len(rows))]["email"]))
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    low, high = _bootstrap_ci(unknown_ms, invisible_ms)
    return {
        "samples": float(len(unknown_ms)),
        "unknown": statistics.median(unknown_ms),
        "invisible": statistics.median(invisible_ms),
        "difference": statistics.median(invisible_ms) - statistics.median(unknown_ms),
        "ci_low": low,
        "ci_high": high,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=300, help="samples of each kind (alternating)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="bound on the sampling time per backend")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    for backend in args.backends.split(","):
        r = run(backend, args)
        verdict = "met" if abs(r["difference"]) < TARGET_MS else "MISSED"
        console.print(
            f"{backend}: {int(r['samples'])} alternating samples each; median unknown {r['unknown']:.3f} ms, "
            f"invisible {r['invisible']:.3f} ms, difference {r['difference']:+.3f} ms "
            f"(95 % bootstrap interval {r['ci_low']:+.3f} .. {r['ci_high']:+.3f} ms); "
            f"target |difference| < {TARGET_MS} ms {verdict}"
        )


if __name__ == "__main__":
    main()
