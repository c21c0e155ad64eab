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
    # Salesforce (docs/vendors/salesforce.md; UNCONFIRMED vendor points are knobs, defaults the stricter reading)
    sf_api_versions: str = "31.0-68.0"  # the /services/data/vXX.X/ versions answered; others 404 NOT_FOUND
    sf_access_token_ttl_seconds: int = 7200  # the org's session timeout
    sf_refresh_token_rotation: bool = False  # per connected app; an org may override it
    sf_refresh_ends_session: bool = True  # UNCONFIRMED without rotation: every refresh ends the old session
    sf_daily_api_requests: int = 100_000  # the org's rolling 24 h allocation (403 REQUEST_LIMIT_EXCEEDED past it)
    sf_long_request_seconds: float = 20.0  # a request running this long counts as long-running
    sf_long_requests_max: int = 25  # concurrent long-running requests per org (5 on Developer/Trial orgs)
    sf_query_batch_size: int = 2000  # records per query batch (fewer is allowed: clients follow nextRecordsUrl)
    sf_query_batch_size_long_text: int = 200  # when a query selects two or more long text fields
    sf_open_cursors_per_user: int = 10  # the 11th open query locator evicts the oldest (INVALID_QUERY_LOCATOR)
    sf_locator_ttl_seconds: int = 900  # an unused query locator expires
    sf_uri_max_bytes: int = 16_384  # URI + headers; 414 (URI) / 431 (headers) past it
    sf_get_updated_days: int = 30
    sf_get_deleted_days: int = 15
    sf_id_limit: int = 600_000  # getUpdated/getDeleted answers with more ids: EXCEEDED_ID_LIMIT
    sf_bulk_seconds_per_state: float = 1.0  # UploadComplete -> InProgress -> JobComplete on the sandbox clock
    sf_bulk_result_max_records: int = 50_000  # per results page when the client gives no maxRecords
    # HubSpot (docs/vendors/hubspot.md; UNCONFIRMED vendor points are knobs, defaults the stricter reading)
    hs_date_versions: str = "2025-09,2026-03,2026-09"  # /crm/objects/<YYYY-MM>/... answered besides /crm/v3
    hs_access_token_ttl_seconds: int = 1800  # 30 minutes; clients follow expires_in
    hs_requests_per_10s: int = 100  # per app per portal, rolling (Free/Starter 100, Professional/Enterprise 190)
    hs_requests_per_day: int = 250_000  # per portal, resets at midnight in the portal's time zone
    hs_daily_headers_on_oauth: bool = False  # X-HubSpot-RateLimit-Daily* are not sent on OAuth requests
    hs_search_requests_per_second: int = 5  # per portal (UNCONFIRMED: 4 per token in an older changelog)
    hs_search_max_results: int = 10_000  # one search query pages no further (400 past it)
    hs_search_page_max: int = 200
    hs_search_filter_groups_max: int = 5
    hs_search_filters_per_group_max: int = 10
    hs_search_filters_max: int = 25
    hs_search_sorts_max: int = 1  # UNCONFIRMED: the client sorts by one property
    hs_search_index_lag_seconds: float = 0.0  # UNCONFIRMED: a write shows in search only after this long
    hs_list_page_max: int = 100  # UNCONFIRMED
    hs_batch_max_inputs: int = 100  # UNCONFIRMED
    hs_associations_page_max: int = 500  # associations of one record per v4 batch/read result (UNCONFIRMED)
    # Sunsets on the sandbox clock when on: OAuth v1 (the snake_case token endpoint) ends 2027-02-16, the legacy
    # /crm/v3 + /crm/v4 family 2027-09-01 (dates from HubSpot's migration guide; the answer after them UNCONFIRMED)
    hs_legacy_sunsets: bool = False
    hs_uri_max_bytes: int = 16_384  # 414 past it (UNCONFIRMED size): a GET naming hundreds of properties fails
    hs_webhook_max_attempts: int = 10  # first delivery plus retries, each attemptNumber one higher
    hs_webhook_retry_seconds: float = 60.0  # the first retry's wait, doubled at each further one (sandbox clock)
    hs_webhook_batch_max: int = 100  # events per delivery (UNCONFIRMED)
    hs_webhook_timeout_seconds: float = 10.0  # X-HubSpot-Timeout-Millis: a slower answer counts as failed
    # Dynamics 365 / Dataverse and Microsoft Entra ID (docs/vendors/dynamics.md; UNCONFIRMED points are knobs)
    dv_access_token_ttl_seconds: int = 3600  # Entra access tokens (client credentials and sign-in)
    dv_requests_per_window: int = 6000  # service protection, per user per web server, sliding window
    dv_window_seconds: int = 300
    dv_execution_ms_per_window: int = 1_200_000  # combined execution time per user per window (20 minutes)
    dv_concurrent_requests: int = 52  # per user; the 53rd simultaneous request is refused at once
    dv_retry_after_seconds: int = 5  # the first 429's Retry-After; a client sending before it ends grows it
    dv_retry_after_growth: float = 2.0  # each request sent while blocked multiplies the wait (UNCONFIRMED factor)
    dv_request_ms: float = 0.0  # execution time each request counts (plus a per-row share; 0: only the real time)
    dv_max_page_size: int = 5000  # odata.maxpagesize above this is ignored (5,000 is used)
    dv_default_page_size: int = 5000  # rows per page without odata.maxpagesize
    dv_change_tracking_days: float = 30.0  # a delta token older than this is expired (docs: 90 days; an org: 30)
    dv_skiptoken_ttl_seconds: int = 3600  # an unused paging cookie stops working (UNCONFIRMED)
    dv_uri_max_bytes: int = 32_768  # 414 past it (UNCONFIRMED for Dataverse; IIS defaults lie near it)
    dv_batch_max_operations: int = 1000  # operations in one $batch
    # duplicate rules on lead/contact email: a write sent with MSCRM.SuppressDuplicateDetection: false is refused
    # (0x80040333) when one matches; off: the rules are unpublished
    dv_duplicate_detection: bool = True
    dv_webhook_timeout_seconds: float = 60.0  # a webhook's request times out (Dataverse: 60 s)
    dv_duplicate_status: int = 412  # a duplicate-detection refusal (UNCONFIRMED: a docs example shows 500)
    dv_webhook_max_attempts: int = 2  # deliveries in all after a 502, 503 or 504 (Microsoft: "one more attempt")
    dv_webhook_retry_seconds: float = 5.0  # the first retry's wait, doubled at each further one (real time)
    # Where the sandbox sends product-facing webhooks by default (the product's public URL)
    product_base_url: str = "http://127.0.0.1:8000"
