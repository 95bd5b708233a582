"""A bounded load test for a ``tokenshuffle serve`` on this machine (standard library only).

    python -m tokenshuffle.serve.loadtest --clients 16 --requests 8 --size 512x512
    python -m tokenshuffle.serve.loadtest --clients 16 --requests 8 --size 512x512 --sequential

``--clients`` threads each send ``--requests`` requests one after another (one image each);
``--sequential`` sends the same clients x requests requests one at a time, the baseline without
batching. It stops issuing requests after ``--time-limit`` seconds and talks only to 127.0.0.1,
localhost or ::1. It prints one table row: requests, errors, wall time, p50/p95 latency, images/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PROMPTS = ("a photo of a red circle", "a photo of a blue star and a green square", "a photo of three hearts",
           "a photo of a yellow triangle above a purple circle", "a photo of two stars",
           "a photo of an orange square left of a red heart")


def one_request(url: str, body: dict, *, timeout_s: float) -> tuple[int, float]:
    """POST ``body`` -> (HTTP status, seconds); status 0 for a connection failure."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(f"{url}/v1/images/generations", data=data,
                                 headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            payload = json.loads(r.read())
            status = r.status if len(payload.get("data", [])) == body["n"] else 0
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        status = 0
    return status, time.perf_counter() - start


def run(url: str, *, clients: int, requests: int, size: str, candidates: int | None, sequential: bool,
        time_limit_s: float) -> dict:
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit_s

    def client(c: int, count: int) -> None:
        for i in range(count):
            if time.monotonic() > deadline:
                return
            k = c * count + i
            body = {"prompt": PROMPTS[k % len(PROMPTS)], "n": 1, "size": size, "seed": k}
            if candidates is not None:
                body["candidates"] = candidates
            out = one_request(url, body, timeout_s=max(1.0, deadline - time.monotonic()))
            with lock:
                results.append(out)

    start = time.perf_counter()
    if sequential:
        client(0, clients * requests)
    else:
        threads = [threading.Thread(target=client, args=(c, requests)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    ok = sorted(s for status, s in results if status == 200)
    q = statistics.quantiles(ok, n=20, method="inclusive") if len(ok) > 1 else [float("nan")] * 19
    return {"mode": "sequential" if sequential else f"{clients} concurrent clients", "requests": len(results),
            "errors": len(results) - len(ok), "wall_s": round(wall, 2),
            "p50_s": round(statistics.median(ok), 2) if ok else None, "p95_s": round(q[18], 2),
            "images_per_s": round(len(ok) / wall, 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokenshuffle.serve.loadtest", description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the server (this machine only)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=8, help="requests per client")
    p.add_argument("--size", default="512x512")
    p.add_argument("--candidates", type=int, default=None, help="per request (default: the model's)")
    p.add_argument("--sequential", action="store_true", help="send all requests one after another")
    p.add_argument("--time-limit", type=float, default=3600.0, help="stop issuing requests after this many s")
    p.add_argument("--json", default=None, help="also append the result as one JSON line to this file")
    args = p.parse_args(argv)
    if urlparse(args.url).hostname not in LOCAL_HOSTS:
        print(f"loadtest: error: --url must point at {', '.join(LOCAL_HOSTS)}, got {args.url!r}", file=sys.stderr)
        return 2
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 1000 and args.time_limit > 0):
        print("loadtest: error: --clients must be in [1, 256], --requests in [1, 1000], --time-limit > 0",
              file=sys.stderr)
        return 2
    result = run(args.url.rstrip("/"), clients=args.clients, requests=args.requests, size=args.size,
                 candidates=args.candidates, sequential=args.sequential, time_limit_s=args.time_limit)
    print(" | ".join(f"{k} {v}" for k, v in result.items()))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
