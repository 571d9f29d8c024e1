"""Create the first local admin when there is none, and say how to sign in."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first admin user if the database has none, and print how to sign in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        note = settings.VAR_DIR / "first-admin.txt"
        url = f"http://127.0.0.1:{options['port']}/accounts/login/"
        if not user_model.objects.exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "", password)
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            note.write_text(f"user: admin\npassword: {password}\n")
            note.chmod(0o600)
        banner = ["", "=" * 64, f"  nosana-dash is starting at {url.rsplit('/accounts', 1)[0]}"]
        if note.exists():
            banner += [f"  Sign in at {url}", *("  " + line for line in note.read_text().splitlines())]
            banner.append("  (kept in var/first-admin.txt; change it under /admin/)")
        else:
            banner.append(f"  Sign in at {url} with your user (python manage.py createsuperuser adds one)")
        banner += ["=" * 64, ""]
        self.stdout.write("\n".join(banner))
