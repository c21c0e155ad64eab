from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Sign-in (password, a CRM's OAuth), widget tokens, the throttle, the member auth backend.

    The label stays "accounts", the app's name before it moved here: table names, migration history and content
    types are keyed by it.
    """

    name = "identity"
    label = "accounts"
    verbose_name = "Sign-in"
