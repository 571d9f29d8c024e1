"""Draw the sparklines of markets synced before `Market.sparks` existed (0003 left them empty).

The pages read only `sparks`; without this, those markets showed no sparklines until their next
sync. It is the sync's own drawing (markets.services.draw_sparks) on the historical models, so
both draw the same lines from the same snapshots. `sparks` is a cache: going back drops nothing.
"""

from django.db import migrations


def draw_existing_sparks(apps, schema_editor):
    from markets.services import draw_sparks

    market = apps.get_model("markets", "Market")
    snapshot = apps.get_model("markets", "MarketSnapshot")
    # order_by(): the model's ordering (network, price) would make distinct() repeat networks.
    networks = list(market.objects.order_by().values_list("network", flat=True).distinct())
    for network in networks:
        draw_sparks(network=network, markets_model=market, snapshots_model=snapshot)


class Migration(migrations.Migration):

    dependencies = [
        ("markets", "0003_market_sparks"),
    ]

    operations = [
        migrations.RunPython(draw_existing_sparks, migrations.RunPython.noop, elidable=True),
    ]
