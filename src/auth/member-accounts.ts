import type { PrismaClient } from '../db/prisma.js';
import { memberTokenUsable } from '../domain/members/eligibility.js';
import { CredentialCache } from './credential-cache.js';

export type MemberAccountCheck = ((memberId: string) => Promise<boolean>) & {
  /** Forget one member (their status changed): the next request reads it again. */
  forget(memberId: string): void;
  clear(): void;
  /** While on (the status channel is down), every request reads the status from the database. */
  setBypass(on: boolean): void;
};

export interface MemberAccountCheckOptions {
  /** How long a member's answer is trusted without asking the database. Default 30 s. */
  ttlMs?: number;
  /** At most this many members are cached; the oldest entry goes first. Default 10 000. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Whether a member token may still be used: false once the member is CLOSED. A
 * token cannot be revoked, but its member can be closed; a member token must stop
 * working then, not at its `exp`. Answers are cached per process because this runs
 * on every member request; a status change reaches every API process through Redis
 * (src/auth/credential-sync.ts calls `forget`), and the TTL bounds a lost message.
 * A member that does not exist is not refused here: every read finds nothing for it.
 */
export function createMemberAccountCheck(prisma: PrismaClient, options: MemberAccountCheckOptions = {}): MemberAccountCheck {
  const cache = new CredentialCache<boolean>({
    ttlMs: options.ttlMs ?? 30_000,
    maxEntries: options.maxEntries ?? 10_000,
    now: options.now ?? Date.now,
  });
  const mayUse = async (memberId: string): Promise<boolean> => {
    const cached = cache.get(memberId);
    if (cached !== undefined) return cached;
    const snapshot = cache.snapshot();
    const member = await prisma.member.findUnique({ where: { id: memberId }, select: { status: true } });
    const allowed = memberTokenUsable(member?.status);
    cache.set(memberId, allowed, snapshot);
    return allowed;
  };
  return Object.assign(mayUse, {
    forget: (memberId: string) => cache.deleteWhere((_allowed, key) => key === memberId),
    clear: () => cache.clear(),
    setBypass: (on: boolean) => cache.setBypass(on),
  });
}
