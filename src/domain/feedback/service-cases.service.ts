import { Prisma, type ServiceCase, type ServiceChannel } from '../../generated/prisma/client.js';
import { callerText, type Caller } from '../../auth/principal.js';
import { assertMayCall, mayReadOwnRow, ownRowsWhere, SERVICE_CALLERS, type CallerRule } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type ServiceDeps } from '../deps.js';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../errors.js';
import { once, optionalIdempotencyKey, type Replayable, scopeOf } from '../idempotency.js';
import { publishOutboxEvents } from '../outbox/outbox.service.js';
import { loadProgram } from '../program/program.service.js';
import * as check from '../validation.js';
import { fileSlaBreaches, slaDueTimes } from './sla.service.js';

export const SERVICE_CHANNELS = ['PHONE', 'EMAIL', 'CHAT', 'SOCIAL', 'SELF_SERVICE', 'STORE'] as const satisfies readonly ServiceChannel[];

/** How far ahead of the server clock a reported time may be (clock skew between systems). */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_CONTACTS = 10_000;

export function serviceChannel(field: string, value: string): ServiceChannel {
  if (!(SERVICE_CHANNELS as readonly string[]).includes(value)) {
    throw new ValidationError(field, `must be one of ${SERVICE_CHANNELS.join(', ')}`);
  }
  return value as ServiceChannel;
}

function notInFuture(field: string, value: Date, now: Date): Date {
  check.dateTime(field, value);
  if (value.getTime() > now.getTime() + CLOCK_SKEW_MS) throw new ValidationError(field, 'must not be in the future');
  return value;
}

function contactsOf(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_CONTACTS) {
    throw new ValidationError('contacts', `must be a whole number between 1 and ${MAX_CONTACTS}`);
  }
  return value;
}

/**
 * Who may read service cases and feedback — what a member told service, in their own words (`Feedback.comment`), and
 * what service did about it: whoever may read the member (SERVICE_CALLERS.readMembers: staff, keys with
 * `members:read`, the member themself), the rule of their GraphQL types' visibility (`recoveryVisibility`) and of
 * the reads by id. Keys that only record them (`members:write`: a helpdesk, a shop's feedback form) are no readers:
 * they get back the row their own write answers with (RECOVERY_WRITERS), and nothing else.
 */
export const RECOVERY_READERS: CallerRule = SERVICE_CALLERS.readMembers;

/**
 * Who sees a case or feedback as the answer of their own write (`recordServiceCase`, `resolveServiceCase`,
 * `submitFeedback`; the widest of their rules is submitFeedback's, the others are not for members). A writer outside
 * RECOVERY_READERS sees that row only — of a case what the write shows it (`ServiceCaseShows`) —, never what is
 * reached from it: the member, the feedback on the case (other answers, other comments), the case a feedback is about.
 */
export const RECOVERY_WRITERS: CallerRule = SERVICE_CALLERS.submitFeedback;

/**
 * The `where` that keeps a read of service cases or feedback to the caller's: a caller outside RECOVERY_READERS is
 * refused (ForbiddenError) before anything is read; a member token finds only their own rows (another member's row
 * is not returned, as one nobody has); the others, any member's.
 */
export function readableRecoveryWhere(caller: Caller): { memberId?: string } {
  return ownRowsWhere(caller, RECOVERY_READERS, 'Reading service cases and feedback');
}

/** What a read loads with the case: plugin-prisma's plan of a GraphQL selection, say. */
export type ServiceCaseReadShape = Pick<Prisma.ServiceCaseFindUniqueArgs, 'select' | 'include'>;

/**
 * A service case by its id (`node(id)`), with what `shape` loads with it, or null when there is none
 * (`readableRecoveryWhere`: a caller outside the rule is refused before anything is read; a member token finds only
 * their own cases, another member's is not returned, as one nobody opened). The id must be a UUID (ValidationError).
 */
export async function readServiceCase(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: ServiceCaseReadShape,
  caller: Caller,
): Promise<ServiceCase | null> {
  const mayRead = readableRecoveryWhere(caller);
  return deps.prisma.serviceCase.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}

/**
 * What a write shows its caller of the case it answers with (`recordServiceCase`, `resolveServiceCase`):
 * - `CASE`: all of it — to whoever may read the member (RECOVERY_READERS), and to the writer that recorded the case
 *   itself (`createdBy`): what it sent, with what Treue derived from it (the due times), and the resolution;
 * - `RESOLUTION`: to a writer outside RECOVERY_READERS answered with another caller's case (a helpdesk key resolving,
 *   by its `externalRef`, a case that staff or another key recorded): the id and the resolution its own call wrote
 *   (SERVICE_CASE_RESOLUTION); the recording (SERVICE_CASE_RECORDING: channel, category, contacts, the times, the
 *   reference) stays the readers', as by `node(id)`, and so does `resolvedOnFirstContact` when the call derived it
 *   from the recorded contacts (it gave neither that nor the contacts). Its validation errors do not tell the
 *   recording either (`RECORDING_CONTRADICTS`).
 * What is reached from the case (its member, its feedback) keeps the readers' rule either way.
 */
export type ServiceCaseShows = 'CASE' | 'RESOLUTION';

/** What the recording of a case wrote: what its recorder sent, with the due times Treue derived from it. */
export const SERVICE_CASE_RECORDING = [
  'externalRef',
  'channel',
  'category',
  'openedAt',
  'firstResponseAt',
  'firstResponseDueAt',
  'resolutionDueAt',
  'contacts',
  'createdAt',
] as const satisfies readonly (keyof ServiceCase)[];

/** What a resolution wrote that a `RESOLUTION` answer shows its writer (the case's id besides). */
export const SERVICE_CASE_RESOLUTION = ['resolvedAt', 'resolvedOnFirstContact'] as const satisfies readonly (keyof ServiceCase)[];

/** A field of a case that a write's answer shows or hides (`mayReadServiceCaseField`). */
export type ServiceCaseField = (typeof SERVICE_CASE_RECORDING)[number] | (typeof SERVICE_CASE_RESOLUTION)[number];

/**
 * A case as a write answers its caller: the row, whether the answer is a replay, what it shows (`ServiceCaseShows`)
 * and the fields it hides (none for `CASE`). Frozen, and the only object `answerServiceCase` takes.
 */
export type WrittenServiceCase = Readonly<Replayable<ServiceCase> & { shows: ServiceCaseShows; hides: readonly ServiceCaseField[] }>;

/**
 * The message of a resolution's ValidationError that a recording contradicts, to a caller answered with `RESOLUTION`:
 * the field, not the recorded value nor which bound (the opening or the first response) it crossed.
 */
const RECORDING_CONTRADICTS = 'is not consistent with the case as recorded';

function showsOf(caller: Caller, serviceCase: Pick<ServiceCase, 'memberId' | 'createdBy'>): ServiceCaseShows {
  if (mayReadOwnRow(caller, RECOVERY_READERS, serviceCase.memberId)) return 'CASE';
  return serviceCase.createdBy === callerText(caller) ? 'CASE' : 'RESOLUTION';
}

/** What one answer shows, as the write decided it. */
interface Showing {
  shows: ServiceCaseShows;
  hides: ReadonlySet<ServiceCaseField>;
}

/** The answers `recordServiceCase` and `resolveServiceCase` returned, with what each shows; held weakly. */
const writtenCases = new WeakMap<object, Showing>();

/** The cases `answerServiceCase` loaded as a write's answer, with what each shows; objects of one request, held weakly. */
const answeredCases = new WeakMap<object, Showing>();

function writtenCase(
  serviceCase: Replayable<ServiceCase>,
  shows: ServiceCaseShows,
  hides: readonly ServiceCaseField[],
): WrittenServiceCase {
  const written = Object.freeze({ ...serviceCase, shows, hides: Object.freeze([...hides]) });
  writtenCases.set(written, { shows, hides: new Set(hides) });
  return written;
}

/**
 * The case a write answers its caller with, loaded with what `shape` loads with it and held as that answer: its writer
 * sees it (`serviceCaseRule`), as much of it as the write shows (`mayReadServiceCaseField`). `written` must be the very
 * object `recordServiceCase` or `resolveServiceCase` returned (else an Error: a copy, or `{ id, shows }` built by the
 * caller, is no answer, so what a write shows is decided here alone). Another object of the same row — a relation,
 * `node(id)` — is no answer: readers only.
 */
export async function answerServiceCase(
  deps: Pick<ServiceDeps, 'prisma'>,
  written: WrittenServiceCase,
  shape: ServiceCaseReadShape,
): Promise<ServiceCase> {
  const showing = writtenCases.get(written);
  if (!showing) throw new Error('answerServiceCase: not an answer of recordServiceCase or resolveServiceCase');
  const serviceCase = await deps.prisma.serviceCase.findUniqueOrThrow({ ...shape, where: { id: written.id } });
  answeredCases.set(serviceCase, showing);
  return serviceCase;
}

/** Who may see a case at hand: its writer (RECOVERY_WRITERS) when it is a write's answer (`answerServiceCase`), else RECOVERY_READERS. */
export function serviceCaseRule(serviceCase: object): CallerRule {
  return answeredCases.has(serviceCase) ? RECOVERY_WRITERS : RECOVERY_READERS;
}

/**
 * Whether the caller may see a field of a case at hand (SERVICE_CASE_RECORDING, SERVICE_CASE_RESOLUTION): whoever may
 * read the member sees all of them; the writer a write answers with the case those the answer does not hide (all of
 * its own case; of another caller's, the resolution its call wrote — `ServiceCaseShows`).
 */
export function mayReadServiceCaseField(caller: Caller, serviceCase: { memberId: string }, field: ServiceCaseField): boolean {
  if (mayReadOwnRow(caller, RECOVERY_READERS, serviceCase.memberId)) return true;
  const showing = answeredCases.get(serviceCase);
  return showing !== undefined && !showing.hides.has(field) && mayReadOwnRow(caller, RECOVERY_WRITERS, serviceCase.memberId);
}

export interface RecordServiceCaseInput {
  memberId: string;
  channel: ServiceChannel;
  category: string;
  /** Defaults to now. */
  openedAt?: Date | null;
  firstResponseAt?: Date | null;
  /** Contacts so far; at least 1 (the default). */
  contacts?: number | null;
  /** The helpdesk's ticket id; unique. */
  externalRef?: string | null;
  /** Optional (integrations of before keep working), but always send one: a retry with it has no second effect. */
  idempotencyKey?: string | null;
}

/**
 * Records a service case of a member (from the helpdesk or an agent). A case's
 * external reference is unique: recording the same ticket twice is an
 * AlreadyExistsError, never a second case. A given `openedAt` lies between the
 * member's enrolment and now, so no case is dated where no member was (its
 * missed targets would file compensable failures). The case gets its
 * service-level due times from the program's targets for its channel; a first
 * response recorded late files its failure in the same transaction
 * (`fileSlaBreaches`), while a target past due with nothing reported yet is
 * left to the next maintenance pass, so a resolution reported right after,
 * dated in time, is judged by its date. One case per
 * (caller, idempotency key), by `once()`: a retry replays the first answer and
 * files nothing again; the same key with another case is an
 * IdempotencyConflictError. The answer shows the caller the whole case
 * (`shows`: `CASE`, the case it recorded).
 */
export async function recordServiceCase(deps: ServiceDeps, input: RecordServiceCaseInput, caller: Caller): Promise<WrittenServiceCase> {
  assertMayCall(caller, 'recordServiceCase');
  const now = nowOf(deps);
  const memberId = check.uuid('memberId', input.memberId);
  const channel = serviceChannel('channel', input.channel);
  const category = check.plainText('category', input.category, { max: 100 });
  const openedAt = input.openedAt == null ? now : notInFuture('openedAt', input.openedAt, now);
  const firstResponseAt = input.firstResponseAt == null ? null : notInFuture('firstResponseAt', input.firstResponseAt, now);
  if (firstResponseAt && firstResponseAt < openedAt) {
    throw new ValidationError('firstResponseAt', 'must not be before the case was opened');
  }
  const contacts = input.contacts == null ? 1 : contactsOf(input.contacts);
  // The helpdesk's reference is a key: refused as a new one (below, when the request is no replay) unless a case holds it.
  const externalKey = input.externalRef == null ? null : check.storableKey('externalRef', input.externalRef, { max: 200 });
  const externalRef = externalKey?.value ?? null;
  const key = optionalIdempotencyKey(input.idempotencyKey);
  const request = {
    memberId,
    channel,
    category,
    // Omitted is "now": a retry's later now is the same request.
    openedAt: input.openedAt == null ? null : openedAt.toISOString(),
    firstResponseAt: firstResponseAt?.toISOString() ?? null,
    contacts,
    externalRef,
  };

  let filed: CommittedOutboxEvent[] = [];
  try {
    const serviceCase = await deps.prisma.$transaction(async (tx) => {
      const member = await tx.member.findUnique({ where: { id: memberId }, select: { enrolledAt: true } });
      if (!member) throw new NotFoundError('Member', memberId);
      if (input.openedAt != null && openedAt < member.enrolledAt) {
        throw new ValidationError('openedAt', 'must not be before the member enrolled');
      }
      const record = async () => {
        // A case stored under the reference before the key rule: the create below meets it (AlreadyExistsError).
        await check.refuseUnlessStored(externalKey, async () => (await tx.serviceCase.count({ where: { externalRef } })) > 0);
        const { settings } = await loadProgram(tx);
        const { id } = await tx.serviceCase.create({
          data: {
            memberId,
            channel,
            category,
            openedAt,
            firstResponseAt,
            contacts,
            externalRef,
            ...slaDueTimes(settings.sla, channel, openedAt),
            createdBy: callerText(caller),
            createdAt: now,
          },
          select: { id: true },
        });
        filed = await fileSlaBreaches(tx, [id], now, settings.sla, { unreported: 'leave' });
        return { caseId: id };
      };
      const recorded = await once(tx, scopeOf('recordServiceCase', caller), key, request, record);
      return { ...(await tx.serviceCase.findUniqueOrThrow({ where: { id: recorded.caseId } })), replayed: recorded.replayed };
    });
    if (!serviceCase.replayed) await publishOutboxEvents(deps, filed);
    const shows = showsOf(caller, serviceCase);
    return writtenCase(serviceCase, shows, shows === 'CASE' ? [] : SERVICE_CASE_RECORDING);
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
      throw new AlreadyExistsError('externalRef', 'a case with this external reference is already recorded');
    }
    throw error;
  }
}

export interface ResolveServiceCaseInput {
  /** The case, by id … */
  caseId?: string | null;
  /** … or by the helpdesk's reference. */
  externalRef?: string | null;
  /** Defaults to now. */
  resolvedAt?: Date | null;
  /** Contacts in total, when more happened since the case was recorded. */
  contacts?: number | null;
  /** Derived from contacts = 1 when omitted. */
  resolvedOnFirstContact?: boolean | null;
  /** Optional (integrations of before keep working), but always send one: a retry with it has no second effect. */
  idempotencyKey?: string | null;
}

/**
 * Resolves a case, once: a resolved case cannot be resolved again (checked
 * under the row lock, so two concurrent resolutions do not both pass).
 * Whether it was resolved on first contact is derived from the number of
 * contacts unless given, and must agree with it. A resolution after the
 * case's due time (or a first response that never came in time) files its
 * failure in the same transaction, once (`fileSlaBreaches`). One resolution
 * per (caller, idempotency key), by `once()` as `recordServiceCase`: a retry
 * after a lost answer — the same case, by id or by reference, and the same
 * fields — replays the first answer (the case as resolved) and files nothing
 * again; the same key with another resolution or case is an
 * IdempotencyConflictError. Without a key, or with another, a resolved case
 * stays a ValidationError. The answer shows a writer that may not read the
 * member only its resolution of another caller's case (`shows`:
 * `RESOLUTION`; `ServiceCaseShows`), the whole case it recorded itself; to
 * such a writer a resolution the recording contradicts (before the opening or
 * the first response, fewer contacts than recorded, on first contact when
 * more were recorded) is a ValidationError on the same field that tells
 * neither the recorded value nor which bound was crossed.
 */
export async function resolveServiceCase(deps: ServiceDeps, input: ResolveServiceCaseInput, caller: Caller): Promise<WrittenServiceCase> {
  assertMayCall(caller, 'resolveServiceCase');
  const now = nowOf(deps);
  if ((input.caseId == null) === (input.externalRef == null)) {
    throw new ValidationError('caseId', 'give either the case id or its external reference');
  }
  const where: Prisma.ServiceCaseWhereUniqueInput =
    input.caseId != null
      ? { id: check.uuid('caseId', input.caseId) }
      : // A case named by its reference as stored (`check.lookupKey`): one recorded before the key rule is still found.
        { externalRef: check.lookupKey('externalRef', input.externalRef!, { max: 200 }) };
  const resolvedAt = input.resolvedAt == null ? now : notInFuture('resolvedAt', input.resolvedAt, now);
  const newContacts = input.contacts == null ? null : contactsOf(input.contacts);
  const key = optionalIdempotencyKey(input.idempotencyKey);

  let events: CommittedOutboxEvent[] = [];
  const { serviceCase, shows } = await deps.prisma.$transaction(async (tx) => {
    const found = await tx.serviceCase.findUnique({ where, select: { id: true, memberId: true, createdBy: true } });
    if (!found) throw new NotFoundError('ServiceCase', input.caseId ?? input.externalRef ?? '');
    const shown = showsOf(caller, found);
    /** What a check tells the caller when the recording contradicts the resolution: `precise` unless it may not see the recording. */
    const contradicts = (field: string, precise: string) => new ValidationError(field, shown === 'CASE' ? precise : RECORDING_CONTRADICTS);
    const request = {
      // The case, however it was named: a retry by its reference is the same request as one by its id.
      caseId: found.id,
      // Omitted is "now": a retry's later now is the same request.
      resolvedAt: input.resolvedAt == null ? null : resolvedAt.toISOString(),
      contacts: newContacts,
      resolvedOnFirstContact: input.resolvedOnFirstContact ?? null,
    };
    const resolve = async () => {
      const [current] = await tx.$queryRaw<
        { opened_at: Date; first_response_at: Date | null; resolved_at: Date | null; contacts: number }[]
      >`SELECT opened_at, first_response_at, resolved_at, contacts FROM service_cases WHERE id = ${found.id}::uuid FOR UPDATE`;
      if (!current) throw new NotFoundError('ServiceCase', found.id);
      if (current.resolved_at) throw new ValidationError('caseId', 'this case is already resolved');
      // The case's opening, first response and contacts are its recording: not told to a caller that may not see it.
      if (resolvedAt < current.opened_at) throw contradicts('resolvedAt', 'must not be before the case was opened');
      if (current.first_response_at && resolvedAt < current.first_response_at) {
        throw contradicts('resolvedAt', 'must not be before the first response');
      }
      const contacts = newContacts ?? current.contacts;
      if (contacts < current.contacts) {
        throw contradicts('contacts', `the case already has ${current.contacts} contacts`);
      }
      const firstContact = input.resolvedOnFirstContact ?? contacts === 1;
      if (firstContact && contacts > 1) {
        const message = `the case took ${contacts} contacts`;
        // The contacts the caller sent are its own to be told; the recorded ones are the recording.
        throw newContacts === null
          ? contradicts('resolvedOnFirstContact', message)
          : new ValidationError('resolvedOnFirstContact', message);
      }
      await tx.serviceCase.update({
        where: { id: found.id },
        data: { resolvedAt, contacts, resolvedOnFirstContact: firstContact },
        select: { id: true },
      });
      const { settings } = await loadProgram(tx);
      events = await fileSlaBreaches(tx, [found.id], now, settings.sla);
      return { caseId: found.id };
    };
    const resolved = await once(tx, scopeOf('resolveServiceCase', caller), key, request, resolve);
    const row = await tx.serviceCase.findUniqueOrThrow({ where: { id: resolved.caseId } });
    return { serviceCase: { ...row, replayed: resolved.replayed }, shows: shown };
  });
  if (!serviceCase.replayed) await publishOutboxEvents(deps, events);
  // Derived from the recorded contacts (the call gave neither), whether it took one contact tells them: hidden as they are.
  const derived = input.resolvedOnFirstContact == null && newContacts === null;
  const hides: readonly ServiceCaseField[] =
    shows === 'CASE' ? [] : derived ? [...SERVICE_CASE_RECORDING, 'resolvedOnFirstContact'] : SERVICE_CASE_RECORDING;
  return writtenCase(serviceCase, shows, hides);
}
