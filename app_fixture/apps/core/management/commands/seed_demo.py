"""Seed TrainerHub with trainers, services, clients and bookings.

Deterministic (one --seed gives the same data), idempotent (reruns replace the demo
rows). Clients get the API tokens ``client-<n>``, trainers ``trainer-<n>``: the traffic
script uses them.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.bookings.models import Booking
from apps.payments.models import Payment
from apps.trainers.models import Service, Trainer

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
LAST = ["Silva", "Okafor", "Martin", "Patel", "Cohen", "Nguyen", "Rossi", "Kim", "Novak", "Berg"]
SERVICES = [("Personal training", 60, "55.00"), ("Mobility session", 45, "40.00"), ("Nutrition consult", 30, "35.00")]
CITIES = ["Lisbon", "Berlin", "Leeds", "Lyon", "Porto"]


class Command(BaseCommand):
    help = "Create demo trainers, clients and bookings (deterministic, rerunnable)."

    def add_arguments(self, parser):
        parser.add_argument("--trainers", type=int, default=8)
        parser.add_argument("--clients", type=int, default=30)
        parser.add_argument("--bookings", type=int, default=120)
        parser.add_argument("--seed", type=int, default=7)

    @transaction.atomic
    def handle(self, *args, **options):
        rng = random.Random(options["seed"])
        User = get_user_model()
        demo = Q(client__username__startswith="demo-") | Q(trainer__user__username__startswith="demo-")
        Booking.objects.filter(demo).delete()
        User.objects.filter(username__startswith="demo-").delete()
        trainers = []
        for i in range(1, options["trainers"] + 1):
            user = User(username=f"demo-trainer-{i}", first_name=rng.choice(FIRST), last_name=rng.choice(LAST), role=User.TRAINER)
            user.email = f"{user.username}@example.invalid"
            user.set_unusable_password()
            user.issue_token(f"trainer-{i}")
            user.save()
            trainer = Trainer.objects.create(user=user, hourly_rate=Decimal(rng.randrange(40, 90)), city=rng.choice(CITIES))
            for name, minutes, price in SERVICES:
                Service.objects.create(trainer=trainer, name=name, duration_minutes=minutes, price=Decimal(price))
            trainers.append(trainer)
        clients = []
        for i in range(1, options["clients"] + 1):
            user = User(username=f"demo-client-{i}", first_name=rng.choice(FIRST), last_name=rng.choice(LAST), phone=f"+3519100{i:05d}")
            user.email = f"{user.username}@example.invalid"
            user.set_unusable_password()
            user.issue_token(f"client-{i}")
            user.save()
            clients.append(user)
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        made = 0
        for _ in range(options["bookings"]):
            trainer = rng.choice(trainers)
            service = trainer.services.all()[rng.randrange(len(SERVICES))]
            starts_at = now + timedelta(hours=rng.randrange(-24 * 20, 24 * 14))
            if Booking.objects.filter(trainer=trainer, starts_at=starts_at).exists():
                continue
            status = Booking.COMPLETED if starts_at < now else rng.choice([Booking.PENDING, Booking.CONFIRMED])
            booking = Booking.objects.create(client=rng.choice(clients), trainer=trainer, service=service, starts_at=starts_at, status=status)
            if status != Booking.PENDING:
                Payment.objects.create(booking=booking, amount=service.price, status=Payment.CAPTURED, provider_reference=f"seed-{booking.pk}")
            made += 1
        self.stdout.write(f"seeded {len(trainers)} trainers, {len(clients)} clients, {made} bookings")
