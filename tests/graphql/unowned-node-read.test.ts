import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { createApiKey, readApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import type { Principal } from '../../src/auth/principal.js';
import { mayCall, SERVICE_CALLERS, type CallerRule } from '../../src/domain/authorization.js';
import { createEarningRule, readEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { readProgramChange, updateProgram } from '../../src/domain/program/program.service.js';
import { createReward, readReward } from '../../src/domain/rewards/rewards.service.js';
import { serviceIncidentById } from '../../src/domain/service-failures/incidents.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';
import { expectUnownedNodeReadsByCallerKind, nodeQuery, readsDuring, type UnownedNodeType } from '../support/node-reads.js';

/**
 * The node types no member owns — an earning rule, a reward, a program change, an API key, a service incident — read
 * through `node(id)` are their services' reads, as the member-owned types are (tests/support/node-reads.ts): a caller
 * outside the rule is refused (FORBIDDEN) before anything is read, for a known id and an unknown one alike, and the
 * rule is the one the type's visibility names (SERVICE_CALLERS), so the read and what other fields show cannot drift.
 */
const { prisma, app } = useTestApp();

const admin = staffCaller('ADMIN');
const STAFF: Principal = { kind: 'staff', staffId: 'agent', role: 'AGENT' };

/** The caller kinds of the permission matrix a rule lets in, in the matrix's order. */
const kindsLetIn = (rule: CallerRule) =>
  matrixCallers('Query', 'node', { owner: 'owner', stranger: 'stranger' })
    .filter(({ caller }) => mayCall(caller, rule))
    .map(({ kind }) => kind as string);

/** The caller kinds a root field's row of the permission matrix lets in, in its order. */
const matrixReaders = (field: string) =>
  matrixCallers('Query', field, { owner: 'owner', stranger: 'stranger' })
    .filter(({ access }) => access !== 'deny')
    .map(({ kind }) => kind as string);

/**
 * Each type with: the service rule its read checks and its visibility names; the matrix row of the root field that
 * reads it (none for a program change: `program`'s note says its audit trail `changes` is for admins only); the kinds
 * that may read it; the start of a refusal's message; its table; a selection and its answer; the row; and the
 * service's read as a worker would call it.
 */
const TYPES = [
  {
    typename: 'EarningRule',
    rule: SERVICE_CALLERS.readEarningRules,
    field: 'earningRules',
    readers: ['admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    refusal: /^readEarningRules is for agents and above only$/,
    table: /"public"\."earning_rules"/,
    selection: 'name kind points',
    answer: { name: 'Birthday', kind: 'EVENT_POINTS', points: 500 },
    rowOf: async () =>
      (
        await createEarningRule(
          app.deps,
          {
            name: 'Birthday',
            effect: { eventPoints: { eventType: 'birthday', points: 500, limit: { count: 1, period: 'CALENDAR_YEAR' } } },
          },
          admin,
        )
      ).id,
    read: (id: string, caller = admin) => readEarningRule(app.deps, id, {}, caller),
  },
  {
    typename: 'Reward',
    rule: SERVICE_CALLERS.readRewards,
    field: 'rewards',
    readers: ['memberSelf', 'memberOther', 'members:read', 'points:redeem', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    refusal: /^readRewards is for agents and above, API keys with members:read or points:redeem, members only$/,
    table: /"public"\."rewards"/,
    selection: 'name pointsCost active',
    answer: { name: 'Tote bag', pointsCost: 100, active: true },
    rowOf: async () => (await createReward(app.deps, { name: 'Tote bag', pointsCost: 100, voucherValue: '1.00' }, admin)).id,
    read: (id: string, caller = admin) => readReward(app.deps, id, {}, caller),
  },
  {
    typename: 'ProgramChange',
    rule: SERVICE_CALLERS.readProgramChanges,
    field: undefined,
    readers: ['admin', 'ADMIN'],
    refusal: /^readProgramChanges is for admins only$/,
    table: /"public"\."program_changes"/,
    selection: 'version changedSettings',
    answer: { version: 2, changedSettings: ['returnWindowDays'] },
    rowOf: async () => {
      await updateProgram(app.deps, { patch: { returnWindowDays: 7 } }, admin);
      return (await prisma.programChange.findFirstOrThrow({ orderBy: { version: 'desc' } })).id;
    },
    read: (id: string, caller = admin) => readProgramChange(app.deps, id, {}, caller),
  },
  {
    typename: 'ApiKey',
    rule: SERVICE_CALLERS.readApiKeys,
    field: 'apiKeys',
    readers: ['admin', 'ADMIN'],
    refusal: /^readApiKeys is for admins only$/,
    table: /"public"\."api_keys"/,
    selection: 'name scopes revokedAt',
    answer: { name: 'billing export', scopes: ['members:read'], revokedAt: null },
    rowOf: async () => (await createApiKey(app.deps, { name: 'billing export', scopes: ['members:read'] }, admin)).apiKey.id,
    read: (id: string, caller = admin) => readApiKey(app.deps, id, {}, caller),
  },
  {
    typename: 'ServiceIncident',
    rule: SERVICE_CALLERS.readServiceIncident,
    field: 'serviceIncident',
    readers: ['failures:report', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    // A failures:report key reads only the incidents it reported; this one an agent reported
    // (tests/service-failures/incident-permissions-audit.test.ts).
    ownRowsOnly: ['failures:report'],
    refusal: /^readServiceIncident is for agents and above, API keys with failures:report only$/,
    table: /"public"\."service_incidents"/,
    selection: 'type severity description',
    answer: { type: 'LATE_DELIVERY', severity: 'HIGH', description: 'Carrier strike' },
    rowOf: async () =>
      (
        await prisma.serviceIncident.create({
          data: {
            type: 'LATE_DELIVERY',
            severity: 'HIGH',
            occurredAt: new Date(Date.now() - 86_400_000),
            description: 'Carrier strike',
            currency: 'EUR',
            reporterType: 'STAFF',
            reporterId: 'agent',
          },
        })
      ).id,
    read: (id: string, caller = admin) => serviceIncidentById(app.deps, id, caller),
  },
] as const satisfies readonly (UnownedNodeType & {
  rule: CallerRule;
  field: string | undefined;
  read: (id: string, caller?: typeof admin) => Promise<unknown>;
})[];

describe('node(id) of a type no member owns is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: its readers are the matrix's and its service's rule's, which its visibility names`, () => {
      expect(kindsLetIn(type.rule)).toEqual(type.readers);
      if (type.field) expect(matrixReaders(type.field)).toEqual(type.readers);
      type Rule = { caller?: CallerRule };
      const options = getSchema().getType(type.typename)?.extensions.pothosOptions as {
        visibleTo?: Rule | ((row: object, context: { principal: Principal }) => Rule);
      };
      // A type whose readers may see only their own rows (an incident: its reporter) names the rule through a
      // function of the row: for staff, who read every row, it is the rule itself.
      const rule =
        typeof options.visibleTo === 'function'
          ? options.visibleTo({ reporterType: 'STAFF', reporterId: 'someone else' }, { principal: STAFF })
          : options.visibleTo;
      expect(rule?.caller).toBe(type.rule);
    });

    it(`${type.typename}: answers the callers its rule lets in; the service refuses the others before reading`, async () => {
      await expectUnownedNodeReadsByCallerKind(app, type);
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    const token = await app.staffToken('ADMIN');
    for (const type of TYPES) {
      const id = encodeGlobalID(type.typename, (await type.rowOf()).toUpperCase());
      const result = await app.gql(nodeQuery(type.typename, type.selection), { id }, token);
      expect(result.errors, type.typename).toBeUndefined();
      expect(result.data?.node, type.typename).toMatchObject(type.answer);
    }
  });

  it('each service refuses a worker acting on its own (no role, no scopes) before the id is looked at', async () => {
    for (const type of TYPES) {
      const id = await type.rowOf();
      for (const asked of [id, 'nope']) {
        await expect(type.read(asked, systemCaller), type.typename).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
      await expect(type.read('nope'), type.typename).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
      await expect(type.read(id), type.typename).resolves.toMatchObject({ id });
    }
  });

  it('an API key read never loads the secret’s hash, whatever the shape asks', async () => {
    const id = await TYPES[3].rowOf();
    const { reads, result } = await readsDuring(() => readApiKey(app.deps, id, { select: { name: true, secretHash: true } }, admin));
    expect(result).toEqual({ id, name: 'billing export' });
    expect(reads.filter((read) => /secret_hash/.test(read.sql))).toEqual([]);
  });
});
