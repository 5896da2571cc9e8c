// No useTestApp(): the template's assembly alone; the statement it sends runs in tests/graphql/member-status-decided.test.ts.
import { describe, expect, it } from 'vitest';
import { StatementTemplate } from '../../src/db/sql.js';
import { Prisma } from '../../src/generated/prisma/client.js';

const SLOTS = { id: '\u0000id', at: new Date(0), take: Number.MIN_SAFE_INTEGER };

describe('StatementTemplate', () => {
  const fixed = ['EARN', 'ADJUST'];
  let builds = 0;
  const template = new StatementTemplate((slots: typeof SLOTS) => {
    builds += 1;
    const page = Prisma.sql`SELECT * FROM e WHERE kind = ANY(${fixed}) AND at <= ${slots.at} LIMIT ${slots.take}`;
    return Prisma.sql`SELECT ${Prisma.raw('m.*')}, (${page}) FROM m WHERE m.id = ${slots.id} AND m.at > ${slots.at}`;
  }, SLOTS);

  it('flattens the fragments once and puts each run’s values in the slots, fixed values as built', () => {
    const at = new Date('2026-12-07T00:00:00Z');
    expect(template.values({ id: 'a', at, take: 3 })).toEqual([fixed, at, 3, 'a', at]);
    expect(template.values({ id: 'b', at, take: 11 })).toEqual([fixed, at, 11, 'b', at]);
    expect(builds).toBe(1);
    expect(template.strings.join('?')).toBe(
      'SELECT m.*, (SELECT * FROM e WHERE kind = ANY(?) AND at <= ? LIMIT ?) FROM m WHERE m.id = ? AND m.at > ?',
    );
    expect(template.strings.raw).toEqual([...template.strings]);
    expect(Object.isFrozen(template.strings)).toBe(true);
  });

  it('refuses two slots with one sentinel: their values could not be told apart', () => {
    expect(() => new StatementTemplate((slots) => Prisma.sql`SELECT ${slots.a}, ${slots.b}`, { a: 1, b: 1 })).toThrow(
      /shares its sentinel/,
    );
  });
});
