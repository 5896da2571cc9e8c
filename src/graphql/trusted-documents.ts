import { createHash } from 'node:crypto';
import { defaultExtractPersistedOperationId } from '@graphql-yoga/plugin-persisted-operations';
import { Kind, OperationTypeNode, parse } from 'graphql';
import type { GraphQLParams } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import { MEMBER_APP_DOCUMENTS } from './trusted-documents.manifest.js';

/**
 * The documents the service knows by hash: the member app's operations (examples/member-app),
 * printed by `npm run trusted-documents:print` from the manifest the app's code generator writes
 * (`persisted-documents.json`). A client sends one by its id (`documentId`, or Apollo's
 * `extensions.persistedQuery.sha256Hash`) or as the manifest's exact text; with
 * TRUSTED_DOCUMENTS=members nothing else is accepted from member tokens.
 */
export interface TrustedDocuments {
  /** The document text for an id, if trusted. */
  byId(id: string): string | undefined;
  /** The id of a document text, if it is a trusted one. */
  idOf(text: string | undefined): string | undefined;
  /** The id of a document text if it is a trusted document whose operations are all queries (what may be cached). */
  cacheableQuery(text: string | undefined): string | undefined;
}

/**
 * TRUSTED_DOCUMENTS' rule for a document sent as text (one sent by its id is trusted): under `members`, member
 * tokens may send only trusted documents; everyone else, and everyone under `off`, any document. yoga's
 * persisted-operations plugin (src/app.ts) and the direct execution both ask it.
 */
export function mayRunText(policy: 'off' | 'members', caller: Principal['kind'] | undefined, trustedText: boolean): boolean {
  return policy === 'off' || trustedText || caller !== 'member';
}

/**
 * The document id a request names: the GraphQL-over-HTTP `documentId`, or Apollo's
 * `extensions.persistedQuery.sha256Hash` (version 1). Undefined when it names none.
 */
export function requestedDocumentId(params: { documentId?: unknown; extensions?: unknown }): string | undefined {
  if (typeof params.documentId === 'string') return params.documentId;
  // yoga's own rule for Apollo's extension, which reads the parameters alone (no request or context needed).
  return defaultExtractPersistedOperationId(params as GraphQLParams, undefined as never, undefined as never) ?? undefined;
}

/** A document's id as the app's generated client names it: `sha256:` and the hex sha256 of the document text. */
export const documentId = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

export function trustedDocuments(manifest: Readonly<Record<string, string>> = MEMBER_APP_DOCUMENTS): TrustedDocuments {
  const ids = new Map<string, string>();
  const queries = new Map<string, string>();
  for (const [id, text] of Object.entries(manifest)) {
    if (documentId(text) !== id) throw new Error(`trusted document ${id} does not hash to its id`);
    ids.set(text, id);
    const operations = parse(text).definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    if (operations.length > 0 && operations.every((operation) => operation.operation === OperationTypeNode.QUERY)) queries.set(text, id);
  }
  return {
    // Apollo's persisted-query extension carries the bare hex digest.
    byId: (id) => {
      const key = id.startsWith('sha256:') ? id : `sha256:${id}`;
      return Object.hasOwn(manifest, key) ? manifest[key] : undefined;
    },
    idOf: (text) => (text === undefined ? undefined : ids.get(text)),
    cacheableQuery: (text) => (text === undefined ? undefined : queries.get(text)),
  };
}
