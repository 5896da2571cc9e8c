import { SignJWT } from 'jose';
import type { StaffRole } from './principal.js';

/**
 * HS256 tokens for development and tests (the CLI mints them; production staff
 * tokens usually come from an identity provider through `JWKS_URL`).
 *
 * `expiresIn`: seconds from now, or a jose time span such as `'8h'` or `'-1m'`
 * (an already expired token, for tests). Defaults to one hour.
 */
export interface TokenOptions {
  expiresIn?: number | string;
  issuer?: string;
  audience?: string;
}

export async function signStaffToken(
  secret: string,
  { staffId, role, ...options }: { staffId: string; role: StaffRole } & TokenOptions,
): Promise<string> {
  return sign(secret, staffId, role, options);
}

export async function signMemberToken(secret: string, { memberId, ...options }: { memberId: string } & TokenOptions): Promise<string> {
  return sign(secret, memberId, 'MEMBER', options);
}

async function sign(secret: string, sub: string, role: StaffRole | 'MEMBER', options: TokenOptions): Promise<string> {
  const expiresIn = options.expiresIn ?? '1h';
  // jose reads a bare number as an absolute timestamp; ours is relative.
  const expiration = typeof expiresIn === 'number' ? `${expiresIn}s` : expiresIn;
  let jwt = new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiration);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
