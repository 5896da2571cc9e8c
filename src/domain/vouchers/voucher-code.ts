import { randomBytes } from 'node:crypto';

/**
 * Voucher codes are read aloud on the phone and typed from paper, so the
 * alphabet leaves out the characters people confuse: 0/O, 1/I/L.
 */
export const VOUCHER_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const VOUCHER_CODE_PREFIX = 'TRU';
const GROUPS = 4;
const GROUP_LENGTH = 4;
/** Random characters in a code (the prefix carries no entropy). */
export const VOUCHER_CODE_RANDOM_LENGTH = GROUPS * GROUP_LENGTH;

/** log2(31^16) ≈ 79.3 bits: far beyond guessing, and ≥ 64 as the design asks. */
export const VOUCHER_CODE_ENTROPY_BITS = VOUCHER_CODE_RANDOM_LENGTH * Math.log2(VOUCHER_CODE_ALPHABET.length);

// Largest multiple of the alphabet size below 256: bytes at or above it are
// discarded, so every character is equally likely (no modulo bias).
const ACCEPT_BELOW = 256 - (256 % VOUCHER_CODE_ALPHABET.length);

const CODE_PATTERN = new RegExp(`^${VOUCHER_CODE_PREFIX}(-[${VOUCHER_CODE_ALPHABET}]{${GROUP_LENGTH}}){${GROUPS}}$`);

/** A fresh code such as `TRU-7KQM-X3RA-9WDE-HP2C`, from the system CSPRNG. */
export function generateVoucherCode(): string {
  const chars: string[] = [];
  while (chars.length < VOUCHER_CODE_RANDOM_LENGTH) {
    for (const byte of randomBytes(VOUCHER_CODE_RANDOM_LENGTH * 2)) {
      if (byte >= ACCEPT_BELOW) continue;
      chars.push(VOUCHER_CODE_ALPHABET[byte % VOUCHER_CODE_ALPHABET.length]!);
      if (chars.length === VOUCHER_CODE_RANDOM_LENGTH) break;
    }
  }
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) groups.push(chars.slice(i * GROUP_LENGTH, (i + 1) * GROUP_LENGTH).join(''));
  return [VOUCHER_CODE_PREFIX, ...groups].join('-');
}

/** Whether `code` has the shape of a generated code (canonical form). */
export function isWellFormedVoucherCode(code: string): boolean {
  return CODE_PATTERN.test(code);
}

/**
 * The canonical form of a code as a person typed it: upper case, grouping
 * restored when the dashes or spaces were left out or misplaced. Anything that
 * is not the shape of a code comes back trimmed and upper-cased, and will
 * simply not be found.
 */
export function normalizeVoucherCode(input: string): string {
  const upper = input.trim().toUpperCase();
  const compact = upper.replace(/[\s-]/g, '');
  const random = compact.startsWith(VOUCHER_CODE_PREFIX) ? compact.slice(VOUCHER_CODE_PREFIX.length) : '';
  if (random.length !== VOUCHER_CODE_RANDOM_LENGTH || ![...random].every((c) => VOUCHER_CODE_ALPHABET.includes(c))) {
    return upper;
  }
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) groups.push(random.slice(i * GROUP_LENGTH, (i + 1) * GROUP_LENGTH));
  return [VOUCHER_CODE_PREFIX, ...groups].join('-');
}
