"""App config for studies (blinded side-by-side comparisons of systems' answers)."""
from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Study results and votes join the exports registry from here, so the exports app never imports studies.
        from studies import exports, image_links

        exports.register()
        image_links.register()  # trial images go out as annotation's signed per-lease URLs
