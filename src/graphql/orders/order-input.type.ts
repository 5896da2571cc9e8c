import { MAX_ORDER_LINES } from '../../domain/orders/order-lines.js';
import { builder } from '../builder.js';
import { MoneyInput } from '../money.type.js';

export const OrderLineInput = builder.inputType('OrderLineInput', {
  description: 'One line item of an order: a SKU, its quantity and its unit price.',
  fields: (t) => ({
    sku: t.string({ required: true, description: 'The item\u2019s SKU; one line per SKU in an order (1–64 characters).' }),
    category: t.string({ required: false, description: 'The item\u2019s category, which earning rules can match (1–64 characters).' }),
    quantity: t.int({ required: true, description: 'Units ordered, at least 1.' }),
    unitPrice: t.field({ type: 'Decimal', required: true, description: 'Price of one unit in the order currency, ≥ 0, e.g. "19.90".' }),
  }),
});

export const OrderInput = builder.inputType('OrderInput', {
  description:
    'An order as the storefront placed it. `total` is what was paid and earns points; each line\u2019s share of it is prorated by ' +
    'quantity × unit price (docs/orders.md).',
  fields: (t) => ({
    reference: t.string({
      required: true,
      description:
        'The storefront\u2019s order reference, unique per member (1–200 characters, a key: no control, bidirectional or other format characters, no space but the ASCII one, in Unicode NFC and unchanged by NFKC: docs/domain-rules.md, “Text”).',
    }),
    total: t.field({ type: MoneyInput, required: true, description: 'The amount paid that earns points, in the program currency.' }),
    channel: t.string({
      required: false,
      description: 'Where the order was placed: a short lower-case key such as "web", "app" or "store" (earning rules match on it).',
    }),
    placedAt: t.field({
      type: 'DateTime',
      required: false,
      description: 'When the order was placed; now when omitted. Not in the future.',
    }),
    lines: t.field({
      type: [OrderLineInput],
      required: false,
      description: `Line items, at most ${MAX_ORDER_LINES}.`,
    }),
  }),
});
