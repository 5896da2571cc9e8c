import { Decimal } from 'decimal.js';
import { ValidationError } from './errors.js';

export const MAX_POINTS = 2_147_483_647;
// Pragmatic: one @, no spaces, a dot in the domain. Full RFC 5322 is not worth it.
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;
// Control characters (and the line breaks among them) have no place in an identifier, a label or an address.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

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
 * one), then lower-cased; no control characters.
 */
export function email(field: string, value: string): string {
  const address = value.trim().normalize('NFC').toLowerCase();
  if (CONTROL.test(address)) throw new ValidationError(field, 'must be a valid e-mail address: no control characters');
  if (address.length > 254 || !EMAIL.test(address)) throw new ValidationError(field, 'must be a valid e-mail address');
  return address;
}

export function text(field: string, value: string, { min = 1, max = 200 } = {}): string {
  const trimmed = value.trim();
  if (trimmed.length < min || trimmed.length > max) {
    throw new ValidationError(field, `must be ${min}-${max} characters`);
  }
  return trimmed;
}

/**
 * `text` without control characters: the one check of what names something —
 * an order reference, a SKU, a category, a member's external id and name — so
 * that what one operation accepts, the others accept too.
 */
export function plainText(field: string, value: string, limits: { min?: number; max?: number } = {}): string {
  const trimmed = text(field, value, limits);
  if (CONTROL.test(trimmed)) throw new ValidationError(field, 'must not contain control characters');
  return trimmed;
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
