import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


@override_settings(NOSANA_LOGIN_ATTEMPTS=3, NOSANA_LOGIN_WINDOW_SECONDS=60)
def test_failed_sign_ins_are_rate_limited() -> None:
    name = f"alice-{uuid.uuid4().hex[:8]}"  # counters live in the shared cache: a name of its own
    get_user_model().objects.create_user(name, password="right-password-1")
    client = Client()
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": name, "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": name, "password": "right-password-1"})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(NOSANA_LOGIN_ATTEMPTS=3, NOSANA_LOGIN_WINDOW_SECONDS=60)
def test_successful_sign_in_is_not_counted() -> None:
    name = f"bob-{uuid.uuid4().hex[:8]}"
    get_user_model().objects.create_user(name, password="right-password-2")
    for _ in range(5):
        client = Client()
        response = client.post("/accounts/login/", {"username": name, "password": "right-password-2"})
        assert response.status_code == 302
