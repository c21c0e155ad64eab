"""The user account (people sign in by email) and small base models shared by every app."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        """An operator: sees every organization in the admin."""
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str):
        # Emails are stored lower-case; signing in as Ana@Acme.test finds ana@acme.test.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. What they may do comes from their `studios.Membership`, not from this row.

    `is_staff` keeps Django's meaning for operators only; managers reach the admin through their membership.
    """

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        "operator", default=False, help_text="Leadline operators only. Customer managers do not need this."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]


class InboundEvent(models.Model):
    """Every raw webhook we accepted, recorded under a unique key before anything else can fail.

    The key makes a re-delivery a no-op (SMS providers retry, CRMs resend); the payload lets a failed event be
    processed again. `organization` is whom the sender proved to be (the token that verified it); an event that
    names no known number is still kept, flagged for a person. PostgreSQL stores no NUL character in text or
    JSONB, so the payload and key are stored without them (`core.webhooks.nul_free`) and the body as received is
    kept beside them in `raw_body` whenever that changed anything.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued for processing"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (will retry)"
        FLAGGED = "flagged", "Needs a person"

    source = models.CharField(
        max_length=32,
        help_text="Who sent it and what it is (provider.event); the processor registered under this name handles it",
    )
    idempotency_key = models.CharField(max_length=200)
    organization = models.ForeignKey(
        "studios.Organization", on_delete=models.PROTECT, null=True, blank=True, related_name="inbound_events"
    )
    payload = models.JSONField()
    raw_body = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="The request body as received, kept only when the payload had to differ from it (NUL removed)",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "idempotency_key"], name="inbound_event_unique_key"),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="inbound_event_status"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.idempotency_key} ({self.status})"
