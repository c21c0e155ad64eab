// Encoding and segment count of a text, the same rules as messaging/text.py: body_shape (tests check both agree).
// Any character outside GSM 03.38 makes the whole text UCS-2; a part never splits an escape or a surrogate pair.

const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const GSM7_EXTENDED = new Set("^{}\\[~]|€\f");
const CAPACITY = { "GSM-7": [160, 153], "UCS-2": [70, 67] }; // single message, each part of a concatenated one

export const MAX_BODY_UNITS = 1600; // Twilio's limit, in UTF-16 code units

export function bodyShape(body) {
  const chars = Array.from(body); // code points, as Python iterates a str
  const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENDED.has(ch));
  const encoding = gsm ? "GSM-7" : "UCS-2";
  const sizes = gsm
    ? chars.map((ch) => (GSM7_EXTENDED.has(ch) ? 2 : 1))
    : chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
  const [single, part] = CAPACITY[encoding];
  const total = sizes.reduce((a, b) => a + b, 0);
  let segments = 1;
  if (total > single) {
    let used = 0;
    for (const size of sizes) {
      if (used + size > part) {
        segments += 1;
        used = 0;
      }
      used += size;
    }
  }
  return { encoding, segments, units: body.length };
}

// What the composer shows under the box.
export function encodingHint(encoding) {
  return encoding === "GSM-7"
    ? "GSM-7: 160 characters per text, 153 per part of a longer one"
    : "Unicode (UCS-2): a character outside GSM-7 (an emoji, some accents) makes it 70 per text, 67 per part";
}
