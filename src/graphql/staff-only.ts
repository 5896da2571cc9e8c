/**
 * Staff-only details of an object its reader may otherwise see (an agent's id or note, a supervisor's decision, why
 * a voucher was voided): `authScopes: STAFF_ONLY` (or who else may), and `...REFUSED_AS_NULL`, so that anyone else
 * reads null without an error (docs/errors.md) — an error would tell them the detail exists.
 */
export const STAFF_ONLY = { staff: 'AGENT' } as const;

export const REFUSED_AS_NULL = { nullable: true, unauthorizedResolver: () => null } as const;
