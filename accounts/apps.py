"""App config for accounts."""
from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        from accounts.tokens import revoke_on_deactivation, revoke_on_logout

        user_logged_out.connect(revoke_on_logout, dispatch_uid="accounts.revoke_on_logout")
        post_save.connect(revoke_on_deactivation, sender=get_user_model(), dispatch_uid="accounts.revoke_on_deactivation")
