"""The suite-wide scanner really catches a leaked secret."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from tests.conftest import TEST_PINNING_TOKEN, SecretLeak, _scan


def test_scanner_flags_a_leaked_token() -> None:
    with pytest.raises(SecretLeak):
        _scan(HttpResponse(f"token={TEST_PINNING_TOKEN}"))


def test_scanner_passes_clean_pages() -> None:
    _scan(HttpResponse("nothing to see"))
    assert RequestFactory().get("/").path == "/"
