"""Twilio's default keyword handling on long codes (docs/vendors/twilio.md, Opt-out and segments).

Only a single-word message triggers it, case-insensitively, after trimming surrounding whitespace (punctuation
is not tolerated: "STOP." is an ordinary message; UNCONFIRMED). The keyword lists are the union of the older and
newer docs. The standard replies are Twilio's default texts as quoted by third parties (UNCONFIRMED wording of HELP).
"""

from __future__ import annotations

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

STOP, START, HELP = "STOP", "START", "HELP"

REPLIES = {
    STOP: "You have successfully been unsubscribed. You will not receive any more messages from this number. "
    "Reply START to resubscribe.",
    START: "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    HELP: "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}


def classify(body: str | None) -> str | None:
    """ "STOP", "START" or "HELP" when the body is one of the keywords, else None (the OptOutType value)."""
    word = (body or "").strip()
    if not word or any(ch.isspace() for ch in word):
        return None
    word = word.upper()
    if word in OPT_OUT_KEYWORDS:
        return STOP
    if word in OPT_IN_KEYWORDS:
        return START
    if word in HELP_KEYWORDS:
        return HELP
    return None
