from django.db import models


class BaselineHit(models.Model):
    """One row per baseline request: the least a webhook can store."""

    key = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
