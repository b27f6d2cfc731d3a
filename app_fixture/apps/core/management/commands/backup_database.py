"""Back up the database with pg_dump, and record the success for the BackupCompleted alert.

    python manage.py backup_database --output /var/backups/trainerhub.dump
"""

import os
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from otel_trainerhub import business


class Command(BaseCommand):
    help = "pg_dump the default database (custom format) and record the backup's completion as a metric."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, default=Path(settings.VAR_DIR) / "backups" / "trainerhub.dump")

    def handle(self, *args, output: Path, **options):
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError("backup_database backs up PostgreSQL (DATABASE_URL); this database is " + db["ENGINE"])
        output.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
        argv = ["pg_dump", "--format=custom", "--file", str(output), "--host", db.get("HOST") or "127.0.0.1",
                "--port", str(db.get("PORT") or 5432), "--username", db.get("USER") or "", db["NAME"]]
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode:
            raise CommandError(f"pg_dump failed ({result.returncode}): {result.stderr.strip()[:500]}")
        business.backup_completed()
        self.stdout.write(f"backup written to {output} ({output.stat().st_size} bytes) in {time.monotonic() - started:.1f}s")
