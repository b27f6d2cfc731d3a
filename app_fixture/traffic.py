"""Drive TrainerHub's API: every endpoint, as the seeded clients and trainers.

    python app_fixture/traffic.py --base-url http://127.0.0.1:8000 --rounds 3

Prints one JSON line with the status codes seen per endpoint. Expects the data of
``manage.py seed_demo`` (tokens ``client-<n>`` and ``trainer-<n>``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import requests


def run(base_url: str, rounds: int = 1, seed: int | None = None, clients: int = 30, trainers: int = 8, include_slow: bool = True) -> dict[str, Any]:
    rng = random.Random(seed)  # None: a different run each time (re-runs book other slots)
    run_id = uuid.uuid4().hex[:12]  # registrations are new users on every run, seeded or not
    session = requests.Session()
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    booking_ids: list[int] = []

    def call(name: str, method: str, path: str, token: str | None = None, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = session.request(method, base_url + path, json=body, headers=headers, timeout=30)
        seen[name][response.status_code] += 1
        return response

    for r in range(rounds):
        client = f"client-{rng.randrange(1, clients + 1)}"
        trainer = rng.randrange(1, trainers + 1)
        call("ping", "GET", "/api/ping/")
        call("bookings.list", "GET", "/api/bookings/", client)
        call("bookings.list.trainer", "GET", "/api/bookings/", f"trainer-{trainer}")
        directory = call("trainers.directory", "GET", "/api/trainers/").json()["trainers"]
        picked = rng.choice(directory)
        call("trainers.schedule", "GET", f"/api/trainers/{picked['id']}/schedule/")
        service = rng.choice(rng.choice(directory)["services"])["id"]
        starts_at = (datetime.now(timezone.utc) + timedelta(days=rng.randrange(15, 60), hours=rng.randrange(24))).replace(minute=0, second=0, microsecond=0)
        created = call("bookings.create", "POST", "/api/bookings/", client, {"service": service, "starts_at": starts_at.isoformat()})
        if created.status_code == 201:
            booking_ids.append(created.json()["id"])
            call("payments.capture", "POST", f"/api/payments/{booking_ids[-1]}/capture/", client)
        if booking_ids:
            call("bookings.invoice", "GET", f"/api/bookings/{booking_ids[0]}/invoice/", client)
        call("subscriptions.create", "POST", "/api/subscriptions/", client, {"plan": rng.choice(["basic", "pro"])})
        call("users.register", "POST", "/api/users/register/", None, {"username": f"traffic-{run_id}-{r}", "password": "correct horse battery staple"})
        if include_slow:
            call("reports.revenue", "GET", "/api/reports/revenue/")
            call("reports.utilisation", "GET", "/api/reports/utilisation/")
        call("health", "GET", "/health/")
    return {name: dict(counts) for name, counts in sorted(seen.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="repeat the same choices of users, slots and plans (default: new ones each run)")
    parser.add_argument("--no-slow", action="store_true", help="skip the slow report endpoint")
    parser.add_argument("--json", action="store_true", help="print the responses by endpoint and status as JSON")
    args = parser.parse_args()
    seen = run(args.base_url.rstrip("/"), args.rounds, args.seed, include_slow=not args.no_slow)
    if args.json:
        print(json.dumps(seen))
    else:
        total = sum(n for counts in seen.values() for n in counts.values())
        print(f"traffic: {total} requests in {args.rounds} rounds; by endpoint and status: "
              + ", ".join(f"{name} " + "/".join(f"{status}x{n}" for status, n in sorted(counts.items())) for name, counts in seen.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
