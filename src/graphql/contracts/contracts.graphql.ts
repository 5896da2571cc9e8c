import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import {
  cancelContract,
  clawbackEntryKey,
  contractByExternalRef,
  contractStatusAt,
  decideRenewalBonus,
  extendContract,
  HELD_RENEWAL_BONUS_ORDER,
  heldRenewalBonusesWhere,
  readContract,
  readContractRenewal,
  registerContract,
  renewalBonusStatus,
  type CancellationResult,
  type ContractRenewalReadShape,
  type ContractSelection,
} from '../../domain/contracts/contracts.service.js';
import { nowOf } from '../../domain/deps.js';
import {
  AlreadyExistsError,
  ContractNotActiveError,
  ContractNotUpForRenewalError,
  IdempotencyConflictError,
  NotFoundError,
} from '../../domain/errors.js';
import { ContractStatus, RenewalBonusHoldReason } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import { ActorTypeEnum } from '../enums.js';
import { COMMON_ERRORS, ErrorInterface } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { loadThroughService } from '../node-loader.js';
import { positionCursors } from '../position-cursors.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

/**
 * Who may see a contract and its renewals: the contracts service's rule (SERVICE_CALLERS.readContracts: staff,
 * storefront keys that write contracts or read members, and the member it belongs to), as its reads check it.
 */
export const contractVisibility = (memberId: string) => ({ ownRow: { rule: SERVICE_CALLERS.readContracts, memberId } });

export const ContractStatusEnum = builder.enumType(ContractStatus, {
  name: 'ContractStatus',
  description: 'ACTIVE contracts can be extended or cancelled; EXPIRED (past their end) and CANCELLED ones cannot.',
  values: {
    ACTIVE: { description: 'Running: can be extended (earning a renewal bonus) or cancelled.' },
    EXPIRED: { description: 'Past its end date without extension; final.' },
    CANCELLED: { description: 'Cancelled before its end; final.' },
  },
});

const RenewalBonusStatusEnum = builder.enumType('RenewalBonusStatus', {
  description: 'Where the renewal bonus of one extension stands.',
  values: {
    PENDING: { description: 'The bonus job has not run yet.' },
    HELD: {
      description:
        'Waiting for a supervisor (why: `bonusHeldReason`), the computed points kept: the member is suspended (granted when a supervisor reactivates the member, computed again then), or the points would take the member past the balance limit. A supervisor decides it with decideRenewalBonus; declined if the member is closed.',
    },
    GRANTED: { description: 'The bonus points were granted.' },
    NOT_ELIGIBLE: {
      description: 'No points: a zero policy, the member is closed, or a supervisor declined the held bonus.',
    },
    CLAWED_BACK: { description: 'Granted, then taken back because the contract was cancelled within the clawback window.' },
    FORFEITED: { description: 'The contract was cancelled within the clawback window before the bonus was granted: it never will be.' },
  } as const,
});

const RenewalBonusHoldReasonEnum = builder.enumType(RenewalBonusHoldReason, {
  name: 'RenewalBonusHoldReason',
  description: 'Why a renewal bonus is HELD for a supervisor’s decision.',
  values: {
    MEMBER_SUSPENDED: {
      description: 'The member is suspended: released (computed again) when the suspension ends, or decided by a supervisor before.',
    },
    BALANCE_LIMIT: {
      description:
        'Granting it would take the member’s points past 2 147 483 647, the most a balance holds. It waits for a supervisor’s decision: approving is a ValidationError on `renewalId` until the member has room (spent points); or decline it.',
    },
  } as const satisfies Record<RenewalBonusHoldReason, unknown>,
});

builder.objectType(ContractNotActiveError, {
  name: 'ContractNotActiveError',
  description: 'The contract is cancelled or expired and cannot be extended or cancelled. Nothing was changed.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    status: t.expose('status', { type: ContractStatusEnum, description: 'The contract’s status (CANCELLED or EXPIRED).' }),
  }),
});

builder.objectType(ContractNotUpForRenewalError, {
  name: 'ContractNotUpForRenewalError',
  description:
    'The contract is not up for renewal: it can be extended once per term, from `renewableFrom` (the program’s renewal window before its end) until `endsAt`. Nothing was changed.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    endsAt: t.expose('endsAt', { type: 'DateTime', description: 'When the contract’s current term ends.' }),
    renewableFrom: t.expose('renewableFrom', { type: 'DateTime', description: 'From when it can be extended.' }),
  }),
});

export const ContractRef = builder.prismaNode('Contract', {
  id: { field: 'id' },
  nullable: true,
  // The contracts service's read (`readContract`, the rule of `contractByExternalRef`): refused before reading, a member
  // token's read only of their own contracts (tests/contracts/contract-feedback-node-read.test.ts). Visibility still
  // guards a contract reached through other fields.
  ...loadThroughService<ContractSelection>('Contract', readContract),
  description: 'A member’s contract (subscription) with the company; each extension earns a renewal bonus.',
  visibleTo: (contract) => contractVisibility(contract.memberId),
  fields: (t) => ({
    externalRef: t.exposeString('externalRef', { description: 'The billing system’s contract reference (unique).' }),
    plan: t.exposeString('plan', { description: 'The plan or product the contract is for.' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'When the contract started.' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', description: 'When the contract ends, after all extensions so far.' }),
    termMonths: t.exposeInt('termMonths', {
      description: 'The term it was registered with, in months (12 or 24); each renewal carries its own term.',
    }),
    status: t.field({
      type: ContractStatusEnum,
      description: 'Status now: an ACTIVE contract past its end reads EXPIRED.',
      resolve: (contract, _args, ctx) => contractStatusAt(contract, nowOf(ctx.deps)),
    }),
    cancelledAt: t.expose('cancelledAt', { type: 'DateTime', nullable: true, description: 'When it was cancelled.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was registered.' }),
    member: t.relation('member', { description: 'The member the contract belongs to.' }),
    renewals: t.relatedConnection(
      'renewals',
      {
        cursor: 'id',
        description: 'Its extensions, first renewal first.',
        totalCount: true,
        query: () => ({ orderBy: [{ sequence: 'asc' as const }] }),
      },
      counted(COUNT_COST.indexed),
    ),
  }),
});

export const ContractRenewalRef = builder.prismaNode('ContractRenewal', {
  id: { field: 'id' },
  nullable: true,
  // The contracts service's read (`readContractRenewal`): refused before reading, a member token's read only of the
  // renewals of their own contracts (tests/contracts/contract-feedback-node-read.test.ts). Visibility still guards a
  // renewal reached through other fields.
  ...loadThroughService<ContractRenewalReadShape>('ContractRenewal', readContractRenewal),
  description: 'One extension of a contract; it earns exactly one renewal bonus.',
  // The owner decides visibility, so it is loaded with every renewal.
  include: { contract: { select: { memberId: true } } },
  visibleTo: (renewal) => contractVisibility(renewal.contract.memberId),
  fields: (t) => ({
    sequence: t.exposeInt('sequence', { description: '1 for the first renewal of the contract, 2 for the second, …' }),
    termMonths: t.exposeInt('termMonths', { description: 'The new term, in months (12 or 24).' }),
    previousEndsAt: t.expose('previousEndsAt', { type: 'DateTime', description: 'The contract’s end before this extension.' }),
    newEndsAt: t.expose('newEndsAt', { type: 'DateTime', description: 'The contract’s end after this extension.' }),
    requestedType: t.expose('requestedType', { type: ActorTypeEnum, description: 'Kind of caller that reported the extension.' }),
    requestedBy: t.exposeString('requestedBy', {
      authScopes: { staff: 'AGENT' },
      description: 'Id of that caller: an API key or staff id (staff only).',
    }),
    bonusStatus: t.field({
      type: RenewalBonusStatusEnum,
      description: 'Where the renewal bonus stands.',
      resolve: (renewal) => renewalBonusStatus(renewal),
    }),
    bonusPoints: t.expose('bonusPoints', {
      type: 'Points',
      nullable: true,
      description:
        'Points the bonus granted (while HELD: the points computed when it was held); null until the bonus job has run (or when it was forfeited).',
    }),
    bonusGrantedAt: t.expose('bonusGrantedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the bonus was decided: granted, or found not eligible.',
    }),
    bonusHeldAt: t.expose('bonusHeldAt', {
      type: 'DateTime',
      nullable: true,
      description:
        'When the bonus was held for a supervisor’s decision (why: `bonusHeldReason`); null when it was not, or after a release.',
    }),
    bonusHeldReason: t.expose('bonusHeldReason', {
      type: RenewalBonusHoldReasonEnum,
      nullable: true,
      description:
        'Why the bonus was held: the member suspended, or the balance limit; set with `bonusHeldAt` (kept after a decision), null when it was not held.',
    }),
    bonusDecidedBy: t.exposeString('bonusDecidedBy', {
      nullable: true,
      authScopes: { staff: 'AGENT' },
      unauthorizedResolver: () => null,
      description: 'The supervisor who decided a held bonus (staff only; null when the policy decided).',
    }),
    bonusDecisionNote: t.exposeString('bonusDecisionNote', {
      nullable: true,
      authScopes: { staff: 'AGENT' },
      unauthorizedResolver: () => null,
      description: 'Why the bonus was held, declined or decided (staff only).',
    }),
    bonusEntry: t.prismaField({
      type: 'LedgerEntry',
      nullable: true,
      description: 'The RENEWAL_BONUS ledger entry; null while there is none.',
      resolve: (query, renewal, _args, ctx) =>
        renewal.bonusEntryId ? ctx.deps.prisma.ledgerEntry.findUnique({ ...query, where: { id: renewal.bonusEntryId } }) : null,
    }),
    clawedBackAt: t.expose('clawedBackAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When a cancellation took the bonus back (or forfeited it before it was granted).',
    }),
    clawbackEntry: t.prismaField({
      type: 'LedgerEntry',
      nullable: true,
      description: 'The REVERSAL entry that took the bonus back; null when nothing was taken back.',
      resolve: (query, renewal, _args, ctx) =>
        renewal.clawedBackAt && renewal.bonusEntryId
          ? ctx.deps.prisma.ledgerEntry.findUnique({
              ...query,
              where: {
                memberId_idempotencyKey: { memberId: renewal.contract.memberId, idempotencyKey: clawbackEntryKey(renewal.id) },
              },
            })
          : null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the extension was recorded.' }),
    contract: t.relation('contract', { description: 'The contract that was extended.' }),
  }),
});

builder.prismaObjectField('Member', 'contracts', (t) =>
  t.relatedConnection(
    'contracts',
    {
      cursor: 'id',
      description: 'The member’s contracts, newest first, each with its renewals.',
      totalCount: true,
      query: () => ({ orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }] }),
    },
    counted(COUNT_COST.indexed),
  ),
);

const HeldRenewalBonusFilter = builder.inputType('HeldRenewalBonusFilter', {
  description: 'Narrows the held renewal bonuses listed.',
  fields: (t) => ({
    reason: t.field({ type: RenewalBonusHoldReasonEnum, required: false, description: 'Only bonuses held for this reason.' }),
  }),
});

builder.queryField('heldRenewalBonuses', (t) =>
  t.prismaConnection(
    {
      type: ContractRenewalRef,
      cursor: 'id',
      description:
        'The supervisors’ queue of renewal bonuses waiting for a decision (bonusStatus HELD: the member suspended, or past the balance limit; why: `bonusHeldReason`), longest waiting first; decide each with decideRenewalBonus. Supervisors and admins.',
      authScopes: { caller: SERVICE_CALLERS.decideRenewalBonus },
      args: { filter: t.arg({ type: HeldRenewalBonusFilter, required: false, description: 'Conditions to match.' }) },
      ...positionCursors(HELD_RENEWAL_BONUS_ORDER),
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.contractRenewal.findMany({
          ...query,
          where: heldRenewalBonusesWhere(args.filter, callerOf(ctx.principal)),
          orderBy: HELD_RENEWAL_BONUS_ORDER.orderBy,
        }),
      totalCount: (_root, args, ctx) =>
        ctx.deps.prisma.contractRenewal.count({ where: heldRenewalBonusesWhere(args.filter, callerOf(ctx.principal)) }),
    },
    counted(COUNT_COST.scan),
  ),
);

builder.queryField('contractByExternalRef', (t) =>
  t.prismaField({
    type: ContractRef,
    nullable: true,
    description:
      'A contract by the billing system’s reference (spaces around it do not matter). Null when there is none; members find only their own. A blank reference, one over 120 characters or one holding NUL is a top-level VALIDATION error; any other finds what is stored under it, or null.',
    authScopes: { caller: SERVICE_CALLERS.readContracts },
    args: { externalRef: t.arg.string({ required: true, description: 'The billing system’s contract reference.' }) },
    resolve: (query, _root, args, ctx) => contractByExternalRef(ctx.deps, args.externalRef, callerOf(ctx.principal), query),
  }),
);

const RegisterContractInput = builder.inputType('RegisterContractInput', {
  description: 'A member’s new contract. Registering the same contract again returns it; the reference is unique.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    externalRef: t.string({ required: true, description: 'The billing system’s contract reference (unique).' }),
    plan: t.string({ required: true, description: 'The plan or product.' }),
    startsAt: t.field({ type: 'DateTime', required: true, description: 'When the contract starts.' }),
    termMonths: t.int({ required: true, description: 'Term in months: 12 or 24. The end is start + term.' }),
  }),
});

const ExtendContractInput = builder.inputType('ExtendContractInput', {
  description: 'An extension of an active contract by a new term. Name the contract by id or by reference (exactly one).',
  fields: (t) => ({
    contractId: t.id({ required: false, description: 'Contract id (global or raw UUID).' }),
    externalRef: t.string({ required: false, description: 'Or the billing system’s contract reference.' }),
    termMonths: t.int({ required: true, description: 'The new term in months: 12 or 24, added to the current end.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'caller' })),
  }),
});

const CancelContractInput = builder.inputType('CancelContractInput', {
  description: 'The cancellation of an active contract. Name the contract by id or by reference (exactly one).',
  fields: (t) => ({
    contractId: t.id({ required: false, description: 'Contract id (global or raw UUID).' }),
    externalRef: t.string({ required: false, description: 'Or the billing system’s contract reference.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'caller' })),
  }),
});

const RegisterContractPayload = builder.objectRef<{ contractId: string; replayed: boolean }>('RegisterContractPayload').implement({
  description: 'The registered contract.',
  fields: (t) => ({
    contract: t.prismaField({
      type: ContractRef,
      description: 'The contract, as stored.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.contract.findUniqueOrThrow({ ...query, where: { id: result.contractId } }),
    }),
    created: t.boolean({
      description: 'False when an identical registration already existed and is returned instead.',
      resolve: (result) => !result.replayed,
    }),
  }),
});

const ExtendContractPayload = builder.objectRef<{ contractId: string; renewalId: string }>('ExtendContractPayload').implement({
  description: 'The extended contract and the renewal recorded; its bonus is granted by a job shortly after.',
  fields: (t) => ({
    contract: t.prismaField({
      type: ContractRef,
      description: 'The contract, with its new end.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.contract.findUniqueOrThrow({ ...query, where: { id: result.contractId } }),
    }),
    renewal: t.prismaField({
      type: ContractRenewalRef,
      description: 'The renewal this extension recorded.',
      resolve: (query, result, _args, ctx) =>
        ctx.deps.prisma.contractRenewal.findUniqueOrThrow({ ...query, where: { id: result.renewalId } }),
    }),
  }),
});

const CancelContractPayload = builder.objectRef<CancellationResult>('CancelContractPayload').implement({
  description: 'The cancelled contract and what happened to the bonuses of recent renewals.',
  fields: (t) => ({
    contract: t.prismaField({
      type: ContractRef,
      description: 'The contract, now CANCELLED.',
      resolve: (query, result, _args, ctx) => ctx.deps.prisma.contract.findUniqueOrThrow({ ...query, where: { id: result.contractId } }),
    }),
    pointsClawedBack: t.expose('pointsClawedBack', {
      type: 'Points',
      description: 'Renewal bonus points taken back (renewals within the clawback window).',
    }),
    pointsUnrecovered: t.expose('pointsUnrecovered', {
      type: 'Points',
      description: 'Bonus points that should have been taken back but had been spent already.',
    }),
    renewalsClawedBack: t.exposeInt('renewalsClawedBack', { description: 'Renewals whose granted bonus was taken back.' }),
    bonusesForfeited: t.exposeInt('bonusesForfeited', {
      description: 'Renewals within the window whose bonus had not been granted yet; it never will be.',
    }),
  }),
});

const DecideRenewalBonusInput = builder.inputType('DecideRenewalBonusInput', {
  description: "A supervisor's decision on a HELD renewal bonus (the member suspended, or the balance limit: `bonusHeldReason`).",
  fields: (t) => ({
    renewalId: t.id({ required: true, description: 'Contract renewal id (global or raw UUID).' }),
    approve: t.boolean({
      required: true,
      description:
        'True grants the held points now, also while the member is still suspended (past the balance limit: a ValidationError on `renewalId`, still held); false declines the bonus (NOT_ELIGIBLE).',
    }),
    note: t.string({ required: true, description: 'Why, for the audit trail.' }),
    idempotencyKey: t.string(idempotencyKeyArg({ of: 'decider', object: 'renewal' })),
  }),
});

const DecideRenewalBonusPayload = builder.objectRef<{ renewalId: string }>('DecideRenewalBonusPayload').implement({
  description: 'The decided renewal: its bonus GRANTED or NOT_ELIGIBLE.',
  fields: (t) => ({
    renewal: t.prismaField({
      type: ContractRenewalRef,
      description: 'The renewal after the decision.',
      resolve: (query, result, _args, ctx) =>
        ctx.deps.prisma.contractRenewal.findUniqueOrThrow({ ...query, where: { id: result.renewalId } }),
    }),
  }),
});

const CONTRACT_ERRORS = [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError, ContractNotActiveError] as const;

const contractReference = (input: { contractId?: string | number | null; externalRef?: string | null }) => ({
  contractId: input.contractId == null ? null : decodeId('Contract', 'contractId', String(input.contractId)),
  externalRef: input.externalRef ?? null,
});

builder.mutationFields((t) => ({
  registerContract: t.field({
    type: RegisterContractPayload,
    description:
      'Registers a member’s contract (billing system with `contracts:write`, or staff AGENT+). An identical repeat returns the same contract; the same reference with other details is AlreadyExistsError.',
    authScopes: { caller: SERVICE_CALLERS.registerContract },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, AlreadyExistsError],
      directResult: true,
      union: { name: 'RegisterContractResult' },
    },
    args: { input: t.arg({ type: RegisterContractInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      registerContract(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  extendContract: t.field({
    type: ExtendContractPayload,
    description:
      'Extends an active contract by 12 or 24 months (billing system with `contracts:write`, or staff SUPERVISOR+) and queues its renewal bonus, granted exactly once: by default 500 points per 12 months × tier multiplier, +10 % per earlier renewal (up to +50 %). Only when the contract is up for renewal (by default within 90 days before its end), so once per term.',
    authScopes: { caller: SERVICE_CALLERS.extendContract },
    errors: {
      types: [...CONTRACT_ERRORS, ContractNotUpForRenewalError],
      directResult: true,
      union: { name: 'ExtendContractResult' },
    },
    args: { input: t.arg({ type: ExtendContractInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      extendContract(
        ctx.deps,
        { ...contractReference(input), termMonths: input.termMonths, idempotencyKey: input.idempotencyKey },
        callerOf(ctx.principal),
      ),
  }),
  decideRenewalBonus: t.field({
    type: DecideRenewalBonusPayload,
    description:
      'Grants or declines a HELD renewal bonus — the member suspended, or past the balance limit (supervisors and admins). Granting gives the points computed when it was held, now; points that would still take the member past 2 147 483 647 are a ValidationError on `renewalId` (still held); a bonus that is not held is a ValidationError.',
    authScopes: { caller: SERVICE_CALLERS.decideRenewalBonus },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError],
      directResult: true,
      union: { name: 'DecideRenewalBonusResult' },
    },
    args: { input: t.arg({ type: DecideRenewalBonusInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      decideRenewalBonus(
        ctx.deps,
        { ...input, renewalId: decodeId('ContractRenewal', 'renewalId', String(input.renewalId)) },
        callerOf(ctx.principal),
      ),
  }),
  cancelContract: t.field({
    type: CancelContractPayload,
    description:
      'Cancels an active contract (billing system with `contracts:write`, or staff SUPERVISOR+: it can take points back). Bonuses of renewals within the clawback window (default 30 days) are taken back once, or forfeited if not granted yet.',
    authScopes: { caller: SERVICE_CALLERS.cancelContract },
    errors: { types: [...CONTRACT_ERRORS], directResult: true, union: { name: 'CancelContractResult' } },
    args: { input: t.arg({ type: CancelContractInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      cancelContract(ctx.deps, { ...contractReference(input), idempotencyKey: input.idempotencyKey }, callerOf(ctx.principal)),
  }),
}));
