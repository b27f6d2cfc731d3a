#!/usr/bin/env python
"""The forum project's manage.py, as its own team wrote it (no telemetry here)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forum.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
