from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The embedded run (README's run command) keeps one worker inside the server process.
        from jobs import embedded

        embedded.start_if_enabled()
