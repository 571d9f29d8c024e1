"""`market list|get` and `node get` commands."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from markets.models import Market
from nosana_dash.network.local import ledger
from nosana_dash.network.local.models import LedgerMarket


@pytest.mark.django_db
def test_market_list_json_parses_and_matches_the_ledger() -> None:
    ledger.ensure_local_markets()
    out = StringIO()
    call_command("market", "list", "--network", "local", "--json", stdout=out)
    data = json.loads(out.getvalue())
    by_address = {row["address"]: row for row in data}
    for lm in LedgerMarket.objects.all():
        row = by_address[lm.address]
        assert row["name"] == lm.name and row["price_units_per_second"] == lm.price
        assert Decimal(row["price_nos_per_second"]) * 1_000_000 == lm.price
        assert row["timeout_seconds"] == lm.timeout
    assert [row["price_units_per_second"] for row in data] == sorted(r["price_units_per_second"] for r in data)


@pytest.mark.django_db
def test_market_list_text_and_get() -> None:
    ledger.ensure_local_markets()
    out = StringIO()
    call_command("market", "list", "--network", "local", stdout=out)
    text = out.getvalue()
    lm = LedgerMarket.objects.order_by("price").first()
    assert lm is not None and lm.address in text and "NOS/h" in text
    out = StringIO()
    call_command("market", "get", lm.address, "--network", "local", stdout=out)
    assert f"{lm.timeout / 60:g} minutes" in out.getvalue()
    out = StringIO()
    call_command("market", "get", lm.address, "--network", "local", "--json", "--cached", stdout=out)
    assert json.loads(out.getvalue())["address"] == lm.address


@pytest.mark.django_db
def test_market_get_unknown_exits_with_message(capsys: Any) -> None:
    ledger.ensure_local_markets()
    err = StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("market", "get", "NoSuchMarket1111111111111111111111111111111", "--network", "local", stderr=err)
    assert exc.value.code == 1 and "no market" in err.getvalue()


@pytest.mark.django_db
def test_node_get_and_sync_once() -> None:
    ledger.ensure_local_markets()
    out = StringIO()
    call_command("sync_markets", "--once", "--network", "local", stdout=out)
    assert "local: ok" in out.getvalue()
    assert Market.objects.filter(network="local").exists()
    out = StringIO()
    call_command("node", "get", ledger.node_address(), "--network", "local", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["address"] == ledger.node_address()
    assert data["specs"] is not None  # this machine answers for itself
