import { Decimal } from 'decimal.js';
import { ValidationError } from './errors.js';

export const MAX_POINTS = 2_147_483_647;
// Pragmatic: one @, no spaces, a dot in the domain. Full RFC 5322 is not worth it.
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;

/** A kind of character some text may not contain: how to find it, and how a ValidationError names it. */
interface Fault {
  pattern: RegExp;
  words: string;
  /** Whether the message gives the first one's code point (`U+202E`): invisible, a client finds it by its number. */
  named: boolean;
}

/**
 * What text that names something (an identifier, a label, an address) may not contain:
 *
 * - Control characters: C0 (the line breaks and tabs among them), DEL and C1 (NEL, CSI … U+0080–U+009F).
 *   Their message stays what it was before C1 joined them; clients match on it.
 * - Bidirectional controls: the embeddings and overrides U+202A–U+202E (U+202E RIGHT-TO-LEFT OVERRIDE shows
 *   "\u202Egnp.exe" as "exe.png" and reverses whatever follows it on the line) and the isolates U+2066–U+2069.
 *   The marks U+200E, U+200F and U+061C stay allowed: real right-to-left text uses them (a Latin customer
 *   number after a Hebrew name), and a mark only sets the direction of the neutral characters beside it — it
 *   cannot reverse or move the text around it as an override or an unclosed isolate does.
 * - The line and paragraph separators U+2028, U+2029: line breaks, as LF is.
 * - Noncharacters (U+FDD0–U+FDEF and the last two code points of every plane: U+FFFE, U+FFFF …): reserved for
 *   a program's own use, never text.
 *
 * ZWJ (U+200D, emoji sequences) and ZWNJ (U+200C, Persian) are part of how words are written, and pass.
 */
const NAMING_FAULTS: Fault[] = [
  // eslint-disable-next-line no-control-regex
  { pattern: /[\u0000-\u001f\u007f-\u009f]/u, words: 'control characters', named: false },
  { pattern: /[\u202a-\u202e\u2066-\u2069]/u, words: 'bidirectional controls', named: true },
  { pattern: /[\u2028\u2029]/u, words: 'line or paragraph separators', named: true },
  { pattern: /\p{Noncharacter_Code_Point}/u, words: 'noncharacters', named: true },
];

/**
 * What free text (a note, a reason, a comment) may not contain. It may hold line breaks (LF, CR) and tabs, and
 * isolates (U+2066–U+2069), which quote right-to-left text and end at the paragraph's end at the latest. Other
 * control characters are never text: ESC (U+001B) starts a terminal's escape sequence in whatever log or export
 * prints the note, NUL cannot be stored. An embedding or override (U+202A–U+202E) is never needed in a note and
 * reverses what follows it (a supervisor would read "refund 100 points" where "refund \u202E001 stniop" was sent).
 */
const FREE_TEXT_FAULTS: Fault[] = [
  {
    // eslint-disable-next-line no-control-regex
    pattern: /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u,
    words: 'control characters other than line breaks and tabs',
    named: true,
  },
  { pattern: /[\u202a-\u202e]/u, words: 'bidirectional embeddings or overrides', named: true },
];

/**
 * A lone surrogate (half of a UTF-16 pair, "\uD800" in JSON): UTF-8 cannot encode it. With the `u` flag a
 * pattern reads a string by code points, so a whole pair never matches: this is `!value.isWellFormed()`
 * (ES2024, which the project's TypeScript lib does not declare yet) that also finds the culprit.
 */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** `U+202E`: how a message names a code point. */
const codePoint = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * What in `value` it may not contain, in the words of a message ("bidirectional controls (U+202E)"), or
 * undefined. A string that is not well-formed UTF-16 is refused whatever the field: it would be stored with
 * U+FFFD in place of the lone surrogate (or fail as an unexpected error), not as it was accepted.
 */
function fault(value: string, faults: Fault[]): string | undefined {
  const lone = LONE_SURROGATE.exec(value);
  if (lone) return `lone surrogates (${codePoint(lone[0])}), which cannot be stored`;
  for (const { pattern, words, named } of faults) {
    const found = pattern.exec(value);
    if (found) return named ? `${words} (${codePoint(found[0])})` : words;
  }
  return undefined;
}

/**
 * What `plainText` (`naming`) or `text` (`free`) would refuse in `value`, in the words of their messages
 * ("bidirectional controls (U+202E)"), or undefined: for checks that report through another channel (the program
 * settings' schema).
 */
export function textFault(value: string, kind: 'naming' | 'free'): string | undefined {
  return fault(value, kind === 'naming' ? NAMING_FAULTS : FREE_TEXT_FAULTS);
}

/** Points are whole, positive and fit a PostgreSQL integer. */
export function positivePoints(field: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_POINTS) {
    throw new ValidationError(field, `must be a whole number of points between 1 and ${MAX_POINTS}`);
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is a UUID (any case): the one test of an id's form, wherever an id arrives. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function uuid(field: string, value: string): string {
  if (!isUuid(value)) throw new ValidationError(field, 'must be a valid id');
  return value.toLowerCase();
}

/**
 * An e-mail address as it is stored and compared: trimmed, in Unicode NFC (the
 * precomposed "é" and "e" + U+0301 are one address, so the unique index sees
 * one), then lower-cased; nothing `plainText` refuses (control characters,
 * bidirectional controls …).
 */
export function email(field: string, value: string): string {
  const address = value.trim().normalize('NFC').toLowerCase();
  const unfit = fault(address, NAMING_FAULTS);
  if (unfit) throw new ValidationError(field, `must be a valid e-mail address: no ${unfit}`);
  if (address.length > 254 || !EMAIL.test(address)) throw new ValidationError(field, 'must be a valid e-mail address');
  return address;
}

/**
 * Free text (a note, a reason, a comment): trimmed, `min`–`max` characters, line breaks and tabs allowed; no other
 * control characters, no lone surrogates and no bidirectional embeddings or overrides (FREE_TEXT_FAULTS).
 */
export function text(field: string, value: string, limits: { min?: number; max?: number } = {}): string {
  const trimmed = bounded(field, value, limits);
  const unfit = fault(trimmed, FREE_TEXT_FAULTS);
  if (unfit) throw new ValidationError(field, `must not contain ${unfit}`);
  return trimmed;
}

/** Trimmed, `min`–`max` characters. */
function bounded(field: string, value: string, { min = 1, max = 200 } = {}): string {
  const trimmed = value.trim();
  if (trimmed.length < min || trimmed.length > max) {
    throw new ValidationError(field, `must be ${min}-${max} characters`);
  }
  return trimmed;
}

/**
 * `text` without control characters, bidirectional controls, line separators,
 * noncharacters or lone surrogates (NAMING_FAULTS): the one check of what names
 * something — an order reference, a SKU, a category, a member's external id and
 * name — so that what one operation accepts, the others accept too, and what is
 * shown is what was stored.
 */
export function plainText(field: string, value: string, limits: { min?: number; max?: number } = {}): string {
  const trimmed = bounded(field, value, limits);
  const unfit = fault(trimmed, NAMING_FAULTS);
  if (unfit) throw new ValidationError(field, `must not contain ${unfit}`);
  return trimmed;
}

/**
 * A key that names a stored row — an external id, a contract or order reference, an order line's SKU — as a lookup
 * receives it: trimmed, within the write's length, and without NUL or a lone surrogate (no stored key can hold
 * either). Unlike `key` it refuses no other character: a row stored before the naming and key rules, or written by
 * SQL, whose key holds one of them (U+202E, U+200B, U+00A0, a decomposed "é", full-width "Ａ") stays reachable by
 * that key (docs/domain-rules.md, "Text"), and a key no write would accept simply finds nothing.
 */
export function lookupKey(field: string, value: string, limits: { min?: number; max?: number } = {}): string {
  const trimmed = bounded(field, value, limits);
  if (trimmed.includes('\u0000')) throw new ValidationError(field, 'must not contain NUL (U+0000), which no stored key holds');
  const lone = LONE_SURROGATE.exec(trimmed);
  if (lone) throw new ValidationError(field, `must not contain lone surrogates (${codePoint(lone[0])}), which no stored key holds`);
  return trimmed;
}

/**
 * What a key may not contain besides what a name may not (NAMING_FAULTS, whose messages it keeps):
 *
 * - Format characters (Unicode Cf) — U+200B ZERO WIDTH SPACE, ZWJ and ZWNJ, the marks U+200E, U+200F and U+061C,
 *   U+2060 WORD JOINER, U+FEFF (BOM), U+00AD SOFT HYPHEN, the tag characters … A key is compared character for
 *   character: "C\u200B-1" shows as "C-1" and is another key. What a name keeps for real words (ZWJ in an emoji,
 *   ZWNJ in Persian, a mark beside a Latin number in Hebrew text) no identifier a system hands out needs.
 * - Spaces other than the ASCII space (Unicode Zs but U+0020): U+00A0 NO-BREAK SPACE, U+2007 FIGURE SPACE, U+202F,
 *   U+3000 IDEOGRAPHIC SPACE, U+1680 … "K\u00A0-1" shows as "K -1" and is another key. The ASCII space stays allowed
 *   inside a key, as it always was (the key is trimmed around it). The line and paragraph separators (Zl, Zp) are
 *   refused already, with their own message (NAMING_FAULTS).
 */
const KEY_FAULTS: Fault[] = [
  ...NAMING_FAULTS,
  { pattern: /\p{Cf}/u, words: 'format characters', named: true },
  { pattern: /(?! )\p{Zs}/u, words: 'spaces other than the ASCII space', named: true },
];

/** Why a key is not in Unicode NFC: the same word in its other form is another key, and nothing says which was meant. */
const NOT_NFC = 'must be in Unicode NFC (composed form): "é" as U+00E9, not "e" followed by U+0301';

/**
 * Why a key changes under Unicode NFKC (`culprit`: its first character that does): a compatibility form reads as
 * another key — full-width "ＡＢＣ" as "ABC", the ligature "ﬁ" as "fi", "²" as "2", "½" as "1⁄2" — and is not it.
 */
const notNfkc = (culprit: string) =>
  `must not contain compatibility characters (${culprit}), which Unicode NFKC reads as other text: full-width "Ａ" as "A", "ﬁ" as "fi", "²" as "2"`;

/**
 * What the key rule says of `value` (trimmed) in a message ("must not contain format characters (U+200B)"), or
 * undefined. Synchronous and without a lookup: it runs on the earn's and the redemptions' path for every key.
 */
function keyFault(value: string): string | undefined {
  const unfit = fault(value, KEY_FAULTS);
  if (unfit) return `must not contain ${unfit}`;
  if (value.normalize('NFC') !== value) return NOT_NFC;
  if (value.normalize('NFKC') !== value) {
    // In NFC text, NFKC changes only characters with a compatibility decomposition, each one alone too: the first
    // is named.
    const culprit = [...value].find((character) => character.normalize('NFKC') !== character) ?? value;
    return notNfkc(codePoint(culprit));
  }
  return undefined;
}

/** No key stored: `key`'s default, where nothing stored can hold the key already. */
const NOTHING_STORED: ReadonlySet<string> = new Set();

/**
 * A client-chosen key a write stores (an external id, an order or case reference, a SKU, a category), where what is
 * stored already is at hand (`stored`: the SKUs or categories an earning rule holds, when it is updated): `plainText`,
 * and besides no format character (Unicode Cf), no space but the ASCII one, Unicode NFC and unchanged by NFKC — unless
 * `stored` holds the key, which is then taken as stored (as `refuseUnlessStored` does where it takes a read).
 * Refused, never normalised: a key is compared character for character, and a key changed on the way in would not
 * find what its client stored under the key it sent.
 */
export function key(
  field: string,
  value: string,
  limits: { min?: number; max?: number } = {},
  stored: ReadonlySet<string> = NOTHING_STORED,
): string {
  const checked = storableKey(field, value, limits);
  if (checked.refusal && !stored.has(checked.value)) throw checked.refusal;
  return checked.value;
}

/** A key as a write receives it (`storableKey`): the key as stored, and the key rule's refusal of it as a new one. */
export interface StorableKey {
  /** Trimmed, within the field's length: as a lookup takes it (`lookupKey`). */
  value: string;
  /** The key rule's ValidationError for it, or null: to throw when the key names no stored row (`refuseUnlessStored`). */
  refusal: ValidationError | null;
}

/**
 * A key a write may store new, or find stored: an identical `registerContract`, an earn on an order a redemption
 * opened, a duplicate failure report, a request replayed by its idempotency key. The key rule (`key`: what a name may
 * not hold, format characters, spaces but the ASCII one, not NFC, changed by NFKC) refuses it only as a new key, so a
 * row stored before the rule, or by SQL, stays reachable by its retries: the write throws `refusal` once it knows the
 * key names nothing stored (`refuseUnlessStored`). Blank, too long, NUL or a lone surrogate are refused at once: no stored key holds them.
 */
export function storableKey(field: string, value: string, limits: { min?: number; max?: number } = {}): StorableKey {
  const trimmed = bounded(field, value, limits);
  const unfit = keyFault(trimmed);
  if (unfit === undefined) return { value: trimmed, refusal: null };
  const refusal = new ValidationError(field, unfit);
  if (trimmed.includes('\u0000') || LONE_SURROGATE.test(trimmed)) throw refusal;
  return { value: trimmed, refusal };
}

/**
 * Throws the refusal of `key` (a `storableKey`, or null for a key not given) unless `stored()` finds a row already
 * holding it, whose key is then taken as stored. `stored` is asked only for a key the rule refuses: never on the
 * path of a key that passes.
 */
export async function refuseUnlessStored(key: StorableKey | null, stored: () => Promise<boolean>): Promise<void> {
  if (key?.refusal && !(await stored())) throw key.refusal;
}

/**
 * A moment to store: a valid date in the year 0001 or later (UTC). The DateTime
 * scalar reads the year 0000 (RFC 3339 has it, and `loyaltyMetrics` counts in
 * it), but PostgreSQL refuses it on input: through Prisma it would come back as
 * an unexpected error instead of this ValidationError.
 */
export function dateTime(field: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new ValidationError(field, 'must be a date-time');
  if (value.getUTCFullYear() < 1) throw new ValidationError(field, 'must be in the year 0001 or later');
  return value;
}

/** A money amount: a decimal string, ≥ 0 (or > 0), at most two places, at most 10^10. */
export function money(field: string, value: string, { positive = true } = {}): Decimal {
  if (!/^\d{1,10}(\.\d{1,2})?$/.test(value.trim())) {
    throw new ValidationError(field, 'must be a decimal amount with at most two decimal places');
  }
  const amount = new Decimal(value.trim());
  if (positive && amount.lte(0)) throw new ValidationError(field, 'must be greater than zero');
  return amount;
}

// Node's ICU list: the ISO 4217 codes in use, so a well-formed code that names no currency ("ABC") is refused.
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** Whether a string is an ISO 4217 currency code (upper case): the one test, for settings and for every input. */
export function isCurrencyCode(value: string): boolean {
  return CURRENCIES.has(value);
}

export function currency(field: string, value: string): string {
  if (!isCurrencyCode(value)) throw new ValidationError(field, 'must be an ISO 4217 currency code');
  return value;
}
