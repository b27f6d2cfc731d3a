"""otel_trainerhub.business: the Business dashboard's metrics, recorded by the application."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.fresh import run_python


def test_business_events_become_counters_and_a_backup_gauge(tmp_path: Path) -> None:
    result = run_python(
        """
        import json
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        from otel_trainerhub import business
        business.user_registered(); business.user_registered()
        business.booking_created()
        business.booking_completed(amount=55.0, currency="eur")
        business.subscription_created(plan="pro", amount=29.0, currency="EUR")
        business.backup_completed(at=1700000000.0)
        business.booking_completed(amount="not a number", currency="EUR")  # never raises into the caller
        points = {}
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        points[m.name + json.dumps(dict(p.attributes), sort_keys=True)] = p.value
        print(json.dumps(points))
        """,
        tmp_path,
        {},
    )
    points = json.loads(result.stdout.strip().splitlines()[-1])
    assert points == {
        "trainerhub.users.registered{}": 2,
        "trainerhub.bookings.created{}": 1,
        "trainerhub.bookings.completed{}": 1,  # the call with a bad amount recorded nothing
        'trainerhub.revenue{"currency": "EUR", "source": "booking"}': 55.0,
        'trainerhub.revenue{"currency": "EUR", "source": "subscription"}': 29.0,
        'trainerhub.subscriptions.created{"plan": "pro"}': 1,
        "trainerhub.backup.last_success{}": 1700000000.0,
    }
