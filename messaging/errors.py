"""Provider error codes in words a studio's staff understand, shown beside a failed message."""

EXPLANATIONS = {
    "21211": "The number is not a valid phone number.",
    "21408": "Texting this country is not enabled on the provider account.",
    "21606": "Our number cannot send texts on this provider account.",
    "21610": "The lead texted STOP to this number; it cannot text them until they text START to it.",
    "21611": "Too many texts are waiting to go out from our number; try again later.",
    "21612": "This number cannot be reached from our number.",
    "21614": "The number is not a mobile number (a landline?).",
    "20003": "The provider refused our credentials; a manager should check the provider account.",
    "30003": "The phone is unreachable (off or out of coverage).",
    "30005": "The number does not exist.",
    "30006": "The number is a landline or its carrier cannot receive texts.",
    "30007": "The carrier filtered the text as spam.",
    "30008": "The carrier did not deliver the text (unknown error).",
    "ZVSMS-4038": "The provider cannot text this country from our number.",
    "ZVSMS-4027": "The provider refused the request.",
    "opted_out": "The lead opted out of texts before this one went out.",
    "sender_blocked": "The lead texted STOP to this number; they must text START to it. Other numbers can text them.",
    "expired": "No provider could take the text for hours; it was not sent.",
    "outcome_unknown": "The send was interrupted; check with the lead before sending again.",
}
# Codes that mean "this number cannot get texts": recorded, and shown, but not an opt-out (only 21610 is).
UNREACHABLE_CODES = frozenset({"21211", "21614", "30005", "30006"})


def error_explain(code: str, fallback: str = "") -> str:
    return EXPLANATIONS.get(str(code), fallback or "The provider did not deliver the text.")
