// No useTestApp(): the template's assembly alone; the statement it sends runs in tests/graphql/member-status-decided.test.ts.
import { describe, expect, it } from 'vitest';
import { slotSentinels, StatementTemplate } from '../../src/db/sql.js';
import { Prisma } from '../../src/generated/prisma/client.js';

type Slots = { id: string; at: Date; take: number };
const SLOTS: readonly [Slots, Slots] = [
  { id: '\u0000id', at: new Date(0), take: Number.MIN_SAFE_INTEGER },
  { id: '\u0000id\u0000', at: new Date(1), take: Number.MIN_SAFE_INTEGER + 1_000 },
];

describe('StatementTemplate', () => {
  let builds = 0;
  const template = new StatementTemplate((slots: Slots) => {
    builds += 1;
    // A fixed value built anew on each call (as `[...QUALIFYING_KINDS]` is): equal, not the same object.
    const page = Prisma.sql`SELECT * FROM e WHERE kind = ANY(${['EARN', 'ADJUST']}) AND at <= ${slots.at} LIMIT ${slots.take}`;
    return Prisma.sql`SELECT ${Prisma.raw('m.*')}, (${page}) FROM m WHERE m.id = ${slots.id} AND m.at > ${slots.at}`;
  }, SLOTS);

  it('flattens the fragments once and puts each run’s values in the slots, fixed values as built', () => {
    const at = new Date('2026-12-07T00:00:00Z');
    expect(template.values({ id: 'a', at, take: 3 })).toEqual([['EARN', 'ADJUST'], at, 3, 'a']);
    expect(template.values({ id: 'b', at, take: 11 })).toEqual([['EARN', 'ADJUST'], at, 11, 'b']);
    // Built twice, once with each set of sentinels, and never again.
    expect(builds).toBe(2);
    // `at` recurs: one parameter, named again where it does.
    expect(template.strings.join('?')).toBe(
      'SELECT m.*, (SELECT * FROM e WHERE kind = ANY(?) AND at <= ? LIMIT ?) FROM m WHERE m.id = ? AND m.at > $2',
    );
    expect(template.strings.raw).toEqual([...template.strings]);
    expect(Object.isFrozen(template.strings)).toBe(true);
  });

  it('refuses two slots with one sentinel: their values could not be told apart', () => {
    const same = { a: 1, b: 1 };
    expect(() => new StatementTemplate((slots) => Prisma.sql`SELECT ${slots.a}, ${slots.b}`, [same, { a: 2, b: 3 }])).toThrow(
      /shares its sentinel/,
    );
  });

  it('refuses a value computed from a slot, which every run would send as computed from the sentinel', () => {
    expect(() => new StatementTemplate((slots: Slots) => Prisma.sql`SELECT ${slots.id} LIMIT ${slots.take + 1}`, SLOTS)).toThrow(
      /value 2 is computed from a slot/,
    );
    expect(
      () =>
        new StatementTemplate(
          (slots: Slots) => Prisma.sql`SELECT ${slots.id} WHERE at > ${new Date(slots.at.getTime() - 86_400_000)}`,
          SLOTS,
        ),
    ).toThrow(/value 2 is computed from a slot/);
  });

  it('refuses a slot cast to two types: one parameter has one type', () => {
    expect(() => new StatementTemplate((slots: Slots) => Prisma.sql`SELECT ${slots.at}::timestamptz, ${slots.at}::date`, SLOTS)).toThrow(
      /slot at is cast to ::timestamptz and to ::date/,
    );
    // The same cast again, or a place whose context types it, is the one parameter.
    const same = new StatementTemplate(
      (slots: Slots) =>
        Prisma.sql`SELECT ${slots.at}::timestamptz WHERE now() > ${slots.at} AND ${slots.take}::int[] <> ${slots.take}::int[]`,
      SLOTS,
    );
    expect(same.strings.join('?')).toBe('SELECT ?::timestamptz WHERE now() > $1 AND ?::int[] <> $2::int[]');
  });

  it('refuses a decision taken by comparing slots when the second set orders them the other way', () => {
    type Window = { from: Date; to: Date; ids: number[] };
    const reversed: readonly [Window, Window] = [
      { from: new Date(1), to: new Date(2), ids: [1] },
      { from: new Date(12), to: new Date(11), ids: [2] },
    ];
    expect(
      () => new StatementTemplate((slots: Window) => Prisma.sql`SELECT ${slots.from <= slots.to ? slots.to : null}::timestamptz`, reversed),
    ).toThrow(/value 1 is computed from a slot/);
    expect(() => new StatementTemplate((slots: Window) => Prisma.sql`SELECT ${slots.ids.map(String)}::text[]`, reversed)).toThrow(
      /value 1 is computed from a slot/,
    );
  });

  it('refuses a text that depends on a slot', () => {
    expect(() => new StatementTemplate((slots: Slots) => Prisma.sql`SELECT 1 LIMIT ${Prisma.raw(String(slots.take))}`, SLOTS)).toThrow(
      /text depends on a slot/,
    );
  });
  it('is given sentinels by each slot’s kind (slotSentinels) that refuse a decision on a comparison of slots', () => {
    type Window = { id: string; from: Date; to: Date | null; low: number; high: number; ids: number[]; tags: (string | null)[] };
    const sets = slotSentinels<Window>({
      id: 'text',
      from: 'date',
      to: 'date',
      low: 'number',
      high: 'number',
      ids: 'numbers',
      tags: 'texts',
    });
    const [first, second] = sets;
    // Every sentinel its own, within a set and across the two.
    const all = sets.flatMap((set) => Object.values(set).map((value) => JSON.stringify(value)));
    expect(new Set(all).size).toBe(all.length);
    expect([first.from < first.to!, second.from < second.to!]).toEqual([true, false]);
    expect([first.low < first.high, second.low < second.high, first.low > 0, second.low > 0]).toEqual([true, false, false, true]);

    const built = new StatementTemplate(
      (slots: Window) => Prisma.sql`SELECT ${slots.id}, ${slots.from}, ${slots.ids}::int[], ${slots.tags}::text[]`,
      sets,
    );
    expect(built.values({ ...first, id: 'a', ids: [7], tags: ['x'] })).toEqual(['a', first.from, [7], ['x']]);
    expect(() => new StatementTemplate((slots: Window) => Prisma.sql`SELECT ${slots.from <= slots.to! ? 1 : 2}`, sets)).toThrow(
      /value 1 is computed from a slot/,
    );
    expect(() => new StatementTemplate((slots: Window) => Prisma.sql`SELECT ${slots.low > 0 ? 'credit' : 'debit'}`, sets)).toThrow(
      /value 1 is computed from a slot/,
    );
  });
});
