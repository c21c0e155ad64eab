"""Zoho's change feed behind the CRM interface: Notifications "watch" channels as subscriptions, and their
callbacks parsed into ChangeNotifications (docs/vendors/zoho-crm.md, Notifications). A mixin of ZohoCrmProvider,
which supplies `client`, `vendor_object` and `canonical_object`."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crm.errors import CrmNotificationInvalid
from crm.providers.zoho.translation import OPERATIONS, PROVIDER, translated
from crm.records import ChangeNotification, Subscription


class ZohoChangeFeed:
    @translated
    def subscribe(self, *, subscription: Subscription) -> Subscription:
        """A watch channel (`subscription.id`: a positive long of ours; `secret`: the token Zoho echoes, at most
        50 characters) for every operation on the objects."""
        entry = self.client.watch_enable(**self._watch_item(subscription))
        return self._granted(subscription, entry)

    @translated
    def renew(self, *, subscription: Subscription) -> Subscription:
        """PATCH the channel's expiry; a lapsed or removed channel is CrmNotFound (subscribe it again)."""
        entry = self.client.watch_renew(**self._watch_item(subscription))
        return self._granted(subscription, entry)

    @translated
    def unsubscribe(self, *, subscription: Subscription) -> None:
        self.client.watch_disable(channel_ids=[int(subscription.id)])

    def parse_notification(
        self, *, subscription: Subscription, body: bytes, headers: Mapping[str, str]
    ) -> list[ChangeNotification]:
        """Zoho signs nothing: a callback is believed when its channel id is the subscription's and it echoes
        the subscription's token (compared in constant time)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise CrmNotificationInvalid("The body is not a JSON object", provider=PROVIDER, status=400)
        if str(payload.get("channel_id")) != str(subscription.id):
            raise CrmNotificationInvalid("The channel id is not this subscription's", provider=PROVIDER, status=403)
        token = payload.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), subscription.secret.encode()):
            raise CrmNotificationInvalid("Wrong channel token", provider=PROVIDER, status=403)
        operation = OPERATIONS.get(str(payload.get("operation") or ""))
        listed = payload.get("ids") if isinstance(payload.get("ids"), list) else []
        ids = tuple(dict.fromkeys(str(value) for value in listed if str(value).isdigit()))
        module = str(payload.get("module") or "")
        if operation is None or not ids or not module:
            raise CrmNotificationInvalid("Nothing to do: no module, operation or ids", provider=PROVIDER, status=400)
        try:
            occurred_at = datetime.fromtimestamp(int(payload["server_time"]) / 1000, tz=UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            occurred_at = None
        return [
            ChangeNotification(
                object=self.canonical_object(module),
                operation=operation,
                ids=ids,
                occurred_at=occurred_at,
                subscription_id=str(subscription.id),
            )
        ]

    def _watch_item(self, subscription: Subscription) -> dict[str, Any]:
        if subscription.expires_at is None:
            raise ValueError("a Zoho watch channel needs expires_at")
        return {
            "channel_id": int(subscription.id),
            "events": [f"{self.vendor_object(name)}.all" for name in subscription.objects],
            "notify_url": subscription.notify_url,
            "token": subscription.secret,
            "expires_at": subscription.expires_at,
        }

    @staticmethod
    def _granted(subscription: Subscription, entry: dict[str, Any]) -> Subscription:
        """The subscription with the earliest expiry Zoho answered (it shortens one it finds too long)."""
        moments = []
        for detail in (entry.get("details") or {}).get("events") or []:
            try:
                moments.append(datetime.fromisoformat(str(detail.get("channel_expiry"))))
            except ValueError:
                continue
        expires_at = min(moments, default=subscription.expires_at)
        return Subscription(
            id=subscription.id,
            objects=subscription.objects,
            notify_url=subscription.notify_url,
            secret=subscription.secret,
            expires_at=expires_at,
        )
