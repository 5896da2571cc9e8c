import { decodeBase64, decodeCursorChunk, encodeBase64 } from '@pothos/core';
import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  getOperationAST,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isUuid } from '../domain/validation.js';
import type { Logger } from '../logger.js';
import { decodePosition, type PositionOrder } from '../db/position-cursors.js';
import { positionOrderOf } from './position-cursors.js';

/**
 * Whether `value` is the cursor of a row this API hands out: a list is a Prisma
 * connection paged by a UUID primary key, so a cursor is Pothos's `GPC:`
 * encoding of one UUID (a list ordered by a column that can change for a row
 * hands out positions instead, src/db/position-cursors.ts, and still takes these).
 */
export function isListCursor(value: unknown): boolean {
  return listCursorKey(value) !== null;
}

/** The row id (UUID) a list cursor names, or null when `value` is not a cursor this API hands out. */
export function listCursorKey(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const decoded = decodeBase64(value);
    if (!decoded.startsWith('GPC:')) return null;
    const key = decodeCursorChunk(decoded.slice(4));
    return typeof key === 'string' && isUuid(key) ? key : null;
  } catch {
    return null;
  }
}

const AT_RISK_PREFIX = 'AtRisk:';

/** The cursor of a save-desk position (score, member id): opaque to clients, like every cursor. */
export function encodeAtRiskCursor(position: { score: number; memberId: string }): string {
  return encodeBase64(`${AT_RISK_PREFIX}${position.score}:${position.memberId}`);
}

/** The position in an `atRiskMembers` cursor, or null when it is not one this API hands out. */
export function decodeAtRiskCursor(value: unknown): { score: number; memberId: string } | null {
  if (typeof value !== 'string') return null;
  try {
    const decoded = decodeBase64(value);
    if (!decoded.startsWith(AT_RISK_PREFIX)) return null;
    const match = /^(\d{1,10}):(.+)$/.exec(decoded.slice(AT_RISK_PREFIX.length));
    if (!match || !isUuid(match[2]!)) return null;
    const score = Number(match[1]);
    return score <= 2_147_483_647 ? { score, memberId: match[2]! } : null;
  } catch {
    return null;
  }
}

/** Lists ranked by something other than their primary key, with cursors of their own. */
const CURSORS_BY_FIELD: Record<string, (value: unknown) => boolean> = {
  atRiskMembers: (value) => decodeAtRiskCursor(value) !== null,
};

/** Whether `value` is a cursor the API hands out for the list field `field`. */
export function isCursorOf(field: string, value: unknown): boolean {
  const own = Object.hasOwn(CURSORS_BY_FIELD, field) ? CURSORS_BY_FIELD[field] : undefined;
  return own ? own(value) : isListCursor(value);
}

interface CursorArgument {
  node: ArgumentNode;
  field: string;
  /** The field's position order when its cursors are positions (src/graphql/position-cursors.ts). */
  order: PositionOrder | null;
}

/**
 * Whether `value` is a cursor of the list: of a list with position cursors, a position of it or the row id one of
 * its cursors was until stop 54 (Prisma pages from that row's place now, as it did then); of any other list,
 * `isCursorOf`.
 */
function isCursorOfList({ field, order }: CursorArgument, value: unknown): boolean {
  return order ? decodePosition(order, value) !== null || isListCursor(value) : isCursorOf(field, value);
}

/** A variable's value as sent, or its default when none was sent (`$after: String = "…"`): what the field receives. */
function variableValue(
  name: string,
  values: Record<string, unknown> | null | undefined,
  definitions: readonly VariableDefinitionNode[] | undefined,
): unknown {
  const given = values?.[name];
  if (given !== undefined) return given;
  const fallback = definitions?.find((definition) => definition.variable.name.value === name)?.defaultValue;
  return fallback?.kind === Kind.STRING ? fallback.value : null;
}

/** The `after`/`before` arguments of connection fields in the operation and the document's fragments. */
function cursorArguments(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): CursorArgument[] {
  const found: CursorArgument[] = [];
  const typeInfo = new TypeInfo(schema);
  const roots = [operation, ...document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)];
  for (const root of roots) {
    visit(
      root,
      visitWithTypeInfo(typeInfo, {
        Argument(node) {
          if (node.name.value !== 'after' && node.name.value !== 'before') return;
          const field = typeInfo.getFieldDef();
          if (field && getNamedType(field.type).name.endsWith('Connection')) {
            found.push({ node, field: field.name, order: positionOrderOf(field) });
          }
        },
      }),
    );
  }
  return found;
}

/**
 * Refuses a cursor the API did not hand out, before anything runs, with a
 * BAD_USER_INPUT naming the argument (of a list with position cursors, anything
 * but a position of that list or a row id: `isCursorOfList`). (Pothos would throw an untyped error on
 * one that does not decode, and a decodable one around a non-UUID would reach
 * PostgreSQL as a uuid syntax error.) Found arguments are kept per parsed
 * operation (yoga caches parsed documents), so a repeated query is not walked again.
 */
export function checkListCursors(logger: Logger): Plugin {
  const byOperation = new WeakMap<OperationDefinitionNode, CursorArgument[]>();
  /** The refusals of the operation's cursors: none when every one is a cursor of its list. */
  const refusals = (schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: unknown) => {
    const operation = getOperationAST(document, operationName);
    if (!operation) return []; // execution reports it
    let cursors = byOperation.get(operation);
    if (!cursors) {
      cursors = cursorArguments(schema, document, operation);
      byOperation.set(operation, cursors);
    }
    const errors: GraphQLError[] = [];
    for (const cursor of cursors) {
      const { node, field } = cursor;
      const value =
        node.value.kind === Kind.VARIABLE
          ? variableValue(node.value.name.value, variables as Record<string, unknown> | null | undefined, operation.variableDefinitions)
          : node.value.kind === Kind.STRING
            ? node.value.value
            : null;
      if (value != null && !isCursorOfList(cursor, value)) {
        errors.push(
          new GraphQLError(`Argument "${node.name.value}" of "${field}" is not a cursor of this list.`, {
            nodes: node,
            extensions: { code: 'BAD_USER_INPUT' },
          }),
        );
      }
    }
    if (errors.length > 0) logger.debug({ error: errors.map((error) => error.message).join(' ') }, 'client error');
    return errors;
  };
  // A subscription's selection pages lists too (`memberStatusChanged { member { ledger(after: …) } }`): checked alike.
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const errors = refusals(args.schema, args.document, args.operationName, args.variableValues);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const errors = refusals(args.schema, args.document, args.operationName, args.variableValues);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
  };
}
