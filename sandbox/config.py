"""Knobs of the sandbox; every one can be changed at run time through the control API (kit/settings.py)."""

from dataclasses import dataclass

from sandbox.kit.settings import Settings


@dataclass
class SandboxConfig(Settings):
    # Zoho Accounts
    access_token_ttl_seconds: int = 3600
    access_tokens_per_refresh_per_window: int = 10  # 10 per refresh token per 10 minutes
    token_window_seconds: int = 600
    active_access_tokens_per_refresh: int = 15  # the 16th evicts the oldest
    grant_code_ttl_seconds: int = 180
    # Zoho CRM
    org_utc_offset_hours: float = -5.0  # org time zone offset used in datetimes (America/New_York, winter)
    api_credits_per_day: int = 50_000  # the rolling 24 h pool
    concurrency_limit: int = 10  # simultaneous calls per org (Standard edition)
    bulk_read_seconds_per_state: float = 1.0  # ADDED -> QUEUED -> IN PROGRESS -> COMPLETED on the sandbox clock
    bulk_downloads_per_minute: int = 10
    # notifications: the v2-era 1 day cap, v8 docs disagree (docs/vendors/zoho-crm.md, Notifications)
    channel_max_expiry_hours: float = 24.0
    channel_default_expiry_hours: float = 1.0
    page_token_ttl_seconds: int = 86_400
    # Twilio
    auto_progress_messages: bool = False  # queued -> sent -> delivered with callbacks, on a timer (the demo)
    auto_progress_delay_seconds: float = 1.0
    # Where the sandbox sends product-facing webhooks by default (the product's public URL)
    product_base_url: str = "http://127.0.0.1:8000"
