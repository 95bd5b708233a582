"""Server counters in the Prometheus text format (version 0.0.4), written by hand: no client library.

Requests by outcome, the queue depth, images generated (total and per second over the last minute)
and a latency histogram (seconds from arrival to the last byte of the answer being ready).
"""

from __future__ import annotations

import threading
import time
from collections import deque

OUTCOMES = ("ok", "bad_request", "rejected", "timeout", "cancelled", "shutdown", "error")
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
RATE_WINDOW_S = 60.0


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = dict.fromkeys(OUTCOMES, 0)
        self.images_total = 0
        self._recent_images: deque[tuple[float, int]] = deque()  # (monotonic time, images)
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last bucket is +Inf
        self.latency_sum = 0.0

    def request(self, outcome: str, *, latency_s: float | None = None, images: int = 0) -> None:
        if outcome not in self.requests:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}")
        with self._lock:
            self.requests[outcome] += 1
            if images:
                self.images_total += images
                self._recent_images.append((time.monotonic(), images))
            if latency_s is not None:
                i = next((i for i, b in enumerate(LATENCY_BUCKETS) if latency_s <= b), len(LATENCY_BUCKETS))
                self.latency_counts[i] += 1
                self.latency_sum += latency_s

    def images_per_second(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._recent_images and self._recent_images[0][0] < now - RATE_WINDOW_S:
                self._recent_images.popleft()
            return sum(n for _, n in self._recent_images) / RATE_WINDOW_S

    def render(self, *, queue_depth: int, running: int) -> str:
        ips = self.images_per_second()
        with self._lock:
            lines = ["# HELP tokenshuffle_requests_total Generation requests by outcome.",
                     "# TYPE tokenshuffle_requests_total counter"]
            lines += [f'tokenshuffle_requests_total{{outcome="{k}"}} {v}' for k, v in self.requests.items()]
            lines += ["# HELP tokenshuffle_queue_depth Requests waiting for a batch.",
                      "# TYPE tokenshuffle_queue_depth gauge", f"tokenshuffle_queue_depth {queue_depth}",
                      "# HELP tokenshuffle_running_requests Requests in the batch being decoded.",
                      "# TYPE tokenshuffle_running_requests gauge", f"tokenshuffle_running_requests {running}",
                      "# HELP tokenshuffle_images_total Images generated.",
                      "# TYPE tokenshuffle_images_total counter", f"tokenshuffle_images_total {self.images_total}",
                      f"# HELP tokenshuffle_images_per_second Images generated per second over the last "
                      f"{RATE_WINDOW_S:.0f} s.",
                      "# TYPE tokenshuffle_images_per_second gauge", f"tokenshuffle_images_per_second {ips:.6g}",
                      "# HELP tokenshuffle_request_latency_seconds Time from arrival to answer.",
                      "# TYPE tokenshuffle_request_latency_seconds histogram"]
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), self.latency_counts, strict=True):
                cumulative += count
                lines.append(f'tokenshuffle_request_latency_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines += [f"tokenshuffle_request_latency_seconds_sum {self.latency_sum:.6g}",
                      f"tokenshuffle_request_latency_seconds_count {cumulative}"]
        return "\n".join(lines) + "\n"
