// No useTestApp(): pure functions of src/domain/orders/order-lines.ts, no database.
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { checkOrder, prorateTotal, returnedLineValue } from '../../src/domain/orders/order-lines.js';

const d = (value: string) => new Decimal(value);
const NOW = new Date('2026-12-03T10:00:00.000Z');
const shares = (total: string, amounts: string[], weights = amounts.map(() => 1)) =>
  prorateTotal(d(total), amounts.map(d), weights).map((share) => share.toFixed(2));

describe('prorateTotal', () => {
  it.each([
    { total: '100.00', amounts: ['60.00', '40.00'], expected: ['60.00', '40.00'], why: 'exact shares stay exact' },
    { total: '10.00', amounts: ['1', '1', '1'], expected: ['3.34', '3.33', '3.33'], why: 'a tie gives the cent to the earlier line' },
    { total: '90.00', amounts: ['50.00', '50.00'], expected: ['45.00', '45.00'], why: 'a discounted total scales every line' },
    { total: '0.05', amounts: ['2', '1', '1', '1'], expected: ['0.02', '0.01', '0.01', '0.01'], why: 'largest remainder: 0.02 / 0.01 ×3' },
    { total: '1.00', amounts: ['0.10', '0.20', '0.70'], expected: ['0.10', '0.20', '0.70'], why: 'no remainder at all' },
    { total: '1.00', amounts: ['3', '3', '3'], expected: ['0.34', '0.33', '0.33'], why: 'thirds' },
    { total: '0.02', amounts: ['1', '2', '3'], expected: ['0.00', '0.01', '0.01'], why: 'fewer cents than lines: the largest remainders' },
  ])('$why: $total over $amounts is $expected', ({ total, amounts, expected }) => {
    const got = shares(total, amounts);
    expect(got).toEqual(expected);
    expect(got.reduce((sum, share) => sum.plus(share), d('0')).toFixed(2)).toBe(d(total).toFixed(2));
  });

  it('splits by quantity when every line is free', () => {
    expect(shares('9.00', ['0', '0'], [1, 2])).toEqual(['3.00', '6.00']);
  });

  it('no lines, no shares', () => {
    expect(prorateTotal(d('10'), [], [])).toEqual([]);
  });
});

describe('returnedLineValue', () => {
  it('is cumulative: partial returns round down, the last unit brings the whole share', () => {
    const line = { share: d('10.00'), quantity: 3 };
    expect(returnedLineValue(line, 1).toFixed(2)).toBe('3.33');
    expect(returnedLineValue(line, 2).toFixed(2)).toBe('6.66');
    expect(returnedLineValue(line, 3).toFixed(2)).toBe('10.00');
  });
});

describe('checkOrder', () => {
  const valid = {
    reference: 'A-1',
    total: { amount: '90.00', currency: 'EUR' },
    channel: 'web',
    lines: [
      { sku: 'SKU-1', category: 'shoes', quantity: 1, unitPrice: '50.00' },
      { sku: 'SKU-2', quantity: 2, unitPrice: '25.00' },
    ],
  };

  it('gives every line its share of the total', () => {
    const order = checkOrder('order', valid, { currency: 'EUR', now: NOW });
    expect(order.lines.map((l) => [l.sku, l.amount.toFixed(2), l.share.toFixed(2)])).toEqual([
      ['SKU-1', '50.00', '45.00'],
      ['SKU-2', '50.00', '45.00'],
    ]);
  });

  const line = (patch: object) => ({ ...valid, lines: [{ ...valid.lines[0]!, ...patch }] });
  it.each([
    { input: { ...valid, reference: ' ' }, field: 'order.reference' },
    { input: { ...valid, reference: 'A\u0000B' }, field: 'order.reference' },
    { input: { ...valid, total: { amount: '-1', currency: 'EUR' } }, field: 'order.total.amount' },
    { input: { ...valid, total: { amount: '1.001', currency: 'EUR' } }, field: 'order.total.amount' },
    { input: { ...valid, total: { amount: '1', currency: 'USD' } }, field: 'order.total.currency' },
    { input: { ...valid, total: { amount: '1', currency: 'eur' } }, field: 'order.total.currency' },
    { input: { ...valid, channel: 'Web Shop' }, field: 'order.channel' },
    { input: { ...valid, placedAt: new Date('2026-12-04T10:00:00Z') }, field: 'order.placedAt' },
    { input: { ...valid, placedAt: new Date('0000-06-01T00:00:00Z') }, field: 'order.placedAt' },
    { input: line({ quantity: 0 }), field: 'order.lines[0].quantity' },
    { input: line({ quantity: 1.5 }), field: 'order.lines[0].quantity' },
    { input: line({ unitPrice: '-0.01' }), field: 'order.lines[0].unitPrice' },
    { input: line({ sku: '' }), field: 'order.lines[0].sku' },
    { input: line({ category: 'x'.repeat(65) }), field: 'order.lines[0].category' },
    { input: { ...valid, lines: [valid.lines[0]!, valid.lines[0]!] }, field: 'order.lines[1].sku' },
    {
      input: { ...valid, lines: Array.from({ length: 201 }, (_, i) => ({ sku: `S${i}`, quantity: 1, unitPrice: '1' })) },
      field: 'order.lines',
    },
  ])('refuses $field', ({ input, field }) => {
    expect(() => checkOrder('order', input, { currency: 'EUR', now: NOW })).toThrow(expect.objectContaining({ code: 'VALIDATION', field }));
  });
});
