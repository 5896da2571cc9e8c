import { readdirSync, readFileSync } from 'node:fs';
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  NoDeprecatedCustomRule,
  parse,
  typeFromAST,
  validate,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { Page } from 'playwright-core';

/**
 * What the console may not send: a field, argument, enum value or input field that schema.graphql marks @deprecated.
 * In a document, graphql-js's NoDeprecatedCustomRule finds them; in the variables (an input object the console builds
 * in code, e.g. `IssueGoodwillInput.amount`), no document scan can, so `deprecatedUses` also walks the variables sent
 * along the types their operation declares.
 */

const ROOT = new URL('../../', import.meta.url);

/** The committed schema, as the console's codegen reads it (console/codegen.ts). */
export const consoleSchema = (): GraphQLSchema => buildSchema(readFileSync(new URL('schema.graphql', ROOT), 'utf8'));

/** Every `graphql(`…`)` document in console/src (the generated gql/ left out), as console/codegen.ts collects them. */
export function consoleDocuments(): { file: string; source: string }[] {
  const folder = new URL('console/src/', ROOT);
  const files = readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.tsx?$/.test(file) && !file.startsWith('gql/'))
    .sort();
  return files.flatMap((file) => {
    const text = readFileSync(new URL(file, folder), 'utf8');
    const documents = [...text.matchAll(/\bgraphql\(\s*`([^`]*)`\s*\)/g)].map((match) => ({ file, source: match[1]! }));
    // A call the pattern missed (an interpolation, another quote) would go unchecked: count the calls themselves.
    const calls = text.match(/\bgraphql\(/g)?.length ?? 0;
    if (calls !== documents.length) throw new Error(`console/src/${file}: ${calls} graphql( calls, ${documents.length} read`);
    return documents;
  });
}

/** The deprecated fields, arguments, enum values and input fields a document names, each as graphql-js words it. */
export function deprecatedInDocument(schema: GraphQLSchema, document: DocumentNode): string[] {
  return validate(schema, document, [NoDeprecatedCustomRule]).map((error) => error.message);
}

/**
 * The deprecated input fields and enum values `variables` hold for the operation of `query` (its only one or
 * `operationName`), walked along the types the operation declares: `$input.amount: …` for IssueGoodwillInput.amount.
 * A field sent as null counts: it is still sent.
 */
export function deprecatedInVariables(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName?: string,
): string[] {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((candidate) => candidate.name?.value === operationName) : operations[0];
  if (!operation) throw new Error(`no operation ${operationName ?? ''} in the document`);
  const found: string[] = [];
  const walk = (type: GraphQLInputType, value: unknown, path: string): void => {
    if (value === null || value === undefined) return;
    if (isNonNullType(type)) return walk(type.ofType, value, path);
    if (isListType(type)) {
      if (Array.isArray(value)) value.forEach((item, index) => walk(type.ofType, item, `${path}[${index}]`));
      else walk(type.ofType, value, path);
      return;
    }
    if (isEnumType(type)) {
      const reason = typeof value === 'string' ? type.getValue(value)?.deprecationReason : undefined;
      if (reason != null) found.push(`${path} = ${value}: ${type.name}.${value} is deprecated. ${reason}`);
      return;
    }
    if (!isInputObjectType(type) || typeof value !== 'object') return;
    const fields = type.getFields();
    for (const [key, item] of Object.entries(value)) {
      const field = fields[key];
      if (!field || item === undefined) continue;
      if (field.deprecationReason != null) found.push(`${path}.${key}: ${type.name}.${key} is deprecated. ${field.deprecationReason}`);
      walk(field.type, item, `${path}.${key}`);
    }
  };
  for (const definition of operation.variableDefinitions ?? []) {
    const type = typeFromAST(schema, definition.type);
    const name = definition.variable.name.value;
    if (type && variables && Object.hasOwn(variables, name)) walk(type as GraphQLInputType, variables[name], `$${name}`);
  }
  return found;
}

/** What a request the console sent (its JSON body) uses that is deprecated: in its document or in its variables. */
export function deprecatedUses(
  schema: GraphQLSchema,
  body: { query?: string; variables?: Record<string, unknown>; operationName?: string },
): string[] {
  if (!body.query) return [];
  const document = parse(body.query);
  return [...deprecatedInDocument(schema, document), ...deprecatedInVariables(schema, document, body.variables, body.operationName)];
}

/** The JSON bodies of the GraphQL requests `page` sends to `base`, as they are sent, for `deprecatedUses`. */
export function requestsSent(page: Page, base: string): { query?: string; variables?: Record<string, unknown>; operationName?: string }[] {
  const sent: { query?: string; variables?: Record<string, unknown>; operationName?: string }[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(`${base}/graphql`) || request.method() !== 'POST') return;
    const body = request.postDataJSON() as (typeof sent)[number] | null;
    if (body) sent.push(body);
  });
  return sent;
}
