import { decodeGlobalID } from '@pothos/plugin-relay';
import { ValidationError } from '../domain/errors.js';
import { isUuid } from '../domain/validation.js';

/**
 * Accepts a global id of `typename` (what `id` fields return) or the raw UUID,
 * and returns the UUID; anything else is a typed ValidationError.
 */
export function decodeId(typename: string, field: string, value: string): string {
  if (isUuid(value)) return value.toLowerCase();
  try {
    const decoded = decodeGlobalID(value);
    if (decoded.typename === typename && isUuid(decoded.id)) return decoded.id.toLowerCase();
  } catch {
    // fall through to the typed error
  }
  throw new ValidationError(field, `must be the id of a ${typename}`);
}
