from django.apps import AppConfig


class LocalNetworkConfig(AppConfig):
    name = "nosana_dash.network.local"
    label = "localnet"
    verbose_name = "Local network (embedded ledger and content store)"
    default_auto_field = "django.db.models.BigAutoField"
