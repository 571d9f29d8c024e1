from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "markets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The embedded run (README's run command) syncs markets on an interval inside the server.
        from markets import embedded

        embedded.start_if_enabled()
