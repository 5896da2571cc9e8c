// No useTestApp(): the console's GraphQL documents against the committed schema.graphql; no database.
import { Kind, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { consoleDocuments, consoleSchema, deprecatedInDocument, deprecatedInVariables } from './deprecated.js';

/**
 * The console sends nothing deprecated (a field, argument, enum value or input field schema.graphql marks @deprecated,
 * to be removed after its date): its documents here, what it puts in their variables in the browser test that sends
 * them (tests/console/console.test.ts records every request and checks it with `deprecatedUses`).
 */
describe("the console's GraphQL documents", () => {
  const schema = consoleSchema();
  const documents = consoleDocuments();

  it('are valid against schema.graphql (a scan of documents the schema does not know would find nothing)', () => {
    expect(documents.length).toBeGreaterThan(25);
    const all = parse(documents.map((document) => document.source).join('\n'));
    expect(validate(schema, all).map((error) => error.message)).toEqual([]);
  });

  it('name no deprecated field, argument, enum value or input field', () => {
    const found = documents.flatMap(({ file, source }) =>
      deprecatedInDocument(schema, parse(source)).map((message) => `${file}: ${message}`),
    );
    expect(found).toEqual([]);
  });

  it('the check of what a request sends finds a deprecated input field in the variables, where no document scan can', () => {
    const issueGoodwill = documents.find(({ source }) => /mutation IssueGoodwill\b/.test(source));
    expect(issueGoodwill, 'the goodwill page sends IssueGoodwill').toBeDefined();
    const document = parse(issueGoodwill!.source);
    expect(document.definitions.map((definition) => definition.kind)).toEqual([Kind.OPERATION_DEFINITION]);
    const base = { memberId: 'TWVtYmVyOjE=', kind: 'VOUCHER', reason: 'OTHER', note: 'n', idempotencyKey: 'k' };
    expect(deprecatedInDocument(schema, document)).toEqual([]);
    expect(deprecatedInVariables(schema, document, { input: { ...base, amount: '12.5' } })).toEqual([
      '$input.amount: IssueGoodwillInput.amount is deprecated. Use amountMoney. Removed after 2027-06-30.',
    ]);
    expect(deprecatedInVariables(schema, document, { input: { ...base, amount: null } })).toHaveLength(1);
    expect(deprecatedInVariables(schema, document, { input: { ...base, amountMoney: { amount: '12.5', currency: 'EUR' } } })).toEqual([]);
    expect(deprecatedInVariables(schema, document, { input: { ...base, kind: 'POINTS', points: 700 } })).toEqual([]);
  });
});
