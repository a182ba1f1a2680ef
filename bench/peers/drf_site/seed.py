"""Seed the DRF peer: migrate a fresh SQLite file, create one API key, print it as JSON.

Run by ``catalog.drf_api_key`` in the peers venv with the server's environment. The key comes
from the library's own manager (``APIKey.objects.create_key``), so it is stored exactly as a real
deployment stores it (prefix + SHA-512, see ``peer_site/settings.py``).
"""

import json
import os
import sys

import django
from django.core.management import call_command
from django.db import connection


def migrate() -> None:
    """Apply every migration, then switch the file to WAL as vbauth does with its own SQLite."""
    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")


def create_key() -> str:
    """One unrevoked, non-expiring key; only the returned plaintext can ever use it."""
    from rest_framework_api_key.models import APIKey  # needs django.setup() first

    _, key = APIKey.objects.create_key(name="bench")
    return key


def main() -> None:
    """Set Django up, seed, and print the credential for the orchestrator."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_site.settings")
    django.setup()
    migrate()
    json.dump({"key": create_key()}, sys.stdout)


if __name__ == "__main__":
    main()
