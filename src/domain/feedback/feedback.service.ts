import { newRowId } from '../../db/ids.js';
import { Prisma, type Feedback, type ServiceChannel } from '../../generated/prisma/client.js';
import type { Caller } from '../../auth/principal.js';
import { assertMayCall, type CallerRule } from '../authorization.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { once, optionalIdempotencyKey, type Replayable, scopeOf } from '../idempotency.js';
import * as check from '../validation.js';
import { readableRecoveryWhere, RECOVERY_READERS, RECOVERY_WRITERS, serviceChannel } from './service-cases.service.js';

export type NpsCategory = 'PROMOTER' | 'PASSIVE' | 'DETRACTOR';

/** NPS answer → category: promoters 9–10, passives 7–8, detractors 0–6. */
export function npsCategory(nps: number): NpsCategory {
  if (nps >= 9) return 'PROMOTER';
  if (nps >= 7) return 'PASSIVE';
  return 'DETRACTOR';
}

/** CSAT 4–5 counts as satisfied. */
export const isSatisfied = (csat: number): boolean => csat >= 4;

function score(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** What a read loads with the feedback: plugin-prisma's plan of a GraphQL selection, say. */
export type FeedbackReadShape = Pick<Prisma.FeedbackFindUniqueArgs, 'select' | 'include'>;

/**
 * Feedback by its id (`node(id)`), with what `shape` loads with it, or null when there is none. The rule of service
 * cases (`readableRecoveryWhere`): a caller outside it is refused before anything is read; a member token finds only
 * their own feedback, another member's is not returned, as one nobody gave. The id must be a UUID (ValidationError).
 */
export async function readFeedback(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: FeedbackReadShape,
  caller: Caller,
): Promise<Feedback | null> {
  const mayRead = readableRecoveryWhere(caller);
  return deps.prisma.feedback.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}

/** The answers `submitFeedback` returned; held weakly. */
const writtenFeedback = new WeakSet<object>();

/** The feedback `answerFeedback` loaded as a write's answer; objects of one request, held weakly. */
const answeredFeedback = new WeakSet<object>();

/** Feedback as `submitFeedback` answers its caller: the row and whether the answer is a replay. Frozen, and the only object `answerFeedback` takes. */
export type WrittenFeedback = Readonly<Replayable<Feedback>>;

/**
 * The feedback `submitFeedback` answers its caller with — always the caller's own answer, shown whole —, loaded with
 * what `shape` loads with it and held as that answer: its writer sees it (`feedbackRule`). `written` must be the very
 * object `submitFeedback` returned (else an Error: a copy, or `{ id }` built by the caller, is no answer). Another
 * object of the same row — a relation, `node(id)` — is no answer: readers only.
 */
export async function answerFeedback(
  deps: Pick<ServiceDeps, 'prisma'>,
  written: WrittenFeedback,
  shape: FeedbackReadShape,
): Promise<Feedback> {
  if (!writtenFeedback.has(written)) throw new Error('answerFeedback: not an answer of submitFeedback');
  const feedback = await deps.prisma.feedback.findUniqueOrThrow({ ...shape, where: { id: written.id } });
  answeredFeedback.add(feedback);
  return feedback;
}

/** Who may see feedback at hand: its writer (RECOVERY_WRITERS) when it is a write's answer (`answerFeedback`), else RECOVERY_READERS. */
export function feedbackRule(feedback: object): CallerRule {
  return answeredFeedback.has(feedback) ? RECOVERY_WRITERS : RECOVERY_READERS;
}

export interface SubmitFeedbackInput {
  /** Optional for a member token (their own id); required for staff and keys. */
  memberId?: string | null;
  /** How likely to recommend, 0–10. */
  nps?: number | null;
  /** Satisfaction, 1–5. */
  csat?: number | null;
  /** The case the feedback is about; must be the same member's. */
  caseId?: string | null;
  comment?: string | null;
  channel?: ServiceChannel | null;
  /** Optional (integrations of before keep working), but always send one: a retry with it records no second answer. */
  idempotencyKey?: string | null;
}

/**
 * Records an NPS answer and/or a CSAT score. Members submit their own feedback
 * only; staff and storefront keys submit on a member's behalf. Everything is
 * validated before anything is written (and CHECK constraints refuse
 * out-of-range scores besides). An NPS answer keeps the member's NPS answer
 * before it (`previous_nps`, by time then id; detractor → promoter conversion
 * reads it): written under the member's row lock, so answers of one member are
 * written one at a time, and an answer dated before a later one becomes that
 * one's previous answer in the same transaction. One answer per (caller,
 * idempotency key), by `once()` under that lock: a retry replays the first
 * answer; the same key with another answer is an IdempotencyConflictError.
 */
export async function submitFeedback(deps: ServiceDeps, input: SubmitFeedbackInput, caller: Caller): Promise<WrittenFeedback> {
  assertMayCall(caller, 'submitFeedback');
  const own = caller.actor.type === 'MEMBER' ? caller.actor.id : null;
  if (input.memberId == null && own === null) throw new ValidationError('memberId', 'is required');
  const memberId = input.memberId == null ? own! : check.uuid('memberId', input.memberId);
  if (own !== null && memberId !== own) throw new ForbiddenError('Members may only submit their own feedback');

  const nps = input.nps == null ? null : score('nps', input.nps, 0, 10);
  const csat = input.csat == null ? null : score('csat', input.csat, 1, 5);
  if (nps === null && csat === null) throw new ValidationError('nps', 'give an NPS answer, a CSAT score or both');
  const caseId = input.caseId == null ? null : check.uuid('caseId', input.caseId);
  const comment = input.comment == null ? null : check.text('comment', input.comment, { min: 0, max: 2000 }) || null;
  const channel = input.channel == null ? null : serviceChannel('channel', input.channel);
  const key = optionalIdempotencyKey(input.idempotencyKey);

  const member = await deps.prisma.member.findUnique({ where: { id: memberId }, select: { id: true } });
  if (!member) throw new NotFoundError('Member', memberId);
  if (caseId !== null) {
    const serviceCase = await deps.prisma.serviceCase.findUnique({ where: { id: caseId }, select: { memberId: true } });
    // Another member's case reads like a missing one: nothing about it is revealed.
    if (!serviceCase || serviceCase.memberId !== memberId) {
      throw new ValidationError('caseId', 'must be a case of this member');
    }
  }
  const id = newRowId();
  const createdAt = nowOf(deps);
  const feedback = await deps.prisma.$transaction(async (tx) => {
    // The member's answers are written one at a time, so each knows the one before it (and a retry waits for the first).
    await tx.$queryRaw`SELECT 1 FROM members WHERE id = ${memberId}::uuid FOR NO KEY UPDATE`;
    const answer = async () => {
      await tx.$executeRaw`
        INSERT INTO feedback (id, member_id, nps, previous_nps, csat, case_id, comment, channel, created_at)
        SELECT ${id}::uuid, ${memberId}::uuid, ${nps}::int,
               CASE WHEN ${nps}::int IS NOT NULL THEN (${previousAnswer(memberId, createdAt, id)}) END,
               ${csat}::int, ${caseId}::uuid, ${comment}::text, ${channel}::"ServiceChannel", ${createdAt}::timestamptz`;
      if (nps !== null) {
        // An answer dated before a later one (clocks of two systems) becomes that one's previous answer.
        await tx.$executeRaw`
          UPDATE feedback SET previous_nps = ${nps}::int
          WHERE id = (SELECT id FROM feedback
                      WHERE member_id = ${memberId}::uuid AND nps IS NOT NULL AND (created_at, id) > (${createdAt}::timestamptz, ${id}::uuid)
                      ORDER BY created_at, id LIMIT 1)`;
      }
      return { feedbackId: id };
    };
    const request = { memberId, nps, csat, caseId, comment, channel };
    const given = await once(tx, scopeOf('submitFeedback', caller), key, request, answer);
    return { ...(await tx.feedback.findUniqueOrThrow({ where: { id: given.feedbackId } })), replayed: given.replayed };
  });
  const written = Object.freeze(feedback);
  writtenFeedback.add(written);
  return written;
}

/** The NPS of the member's latest answer before (created_at, id) = (at, id), in that order. */
function previousAnswer(memberId: string, at: Date, id: string): Prisma.Sql {
  return Prisma.sql`SELECT nps FROM feedback
    WHERE member_id = ${memberId}::uuid AND nps IS NOT NULL AND (created_at, id) < (${at}::timestamptz, ${id}::uuid)
    ORDER BY created_at DESC, id DESC LIMIT 1`;
}
