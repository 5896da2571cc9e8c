import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { callerOf, type Caller } from '../auth/principal.js';
import type { ServiceDeps } from '../domain/deps.js';
import type { GraphQLContext } from './context.js';

type NodeLoader = (id: string, context: GraphQLContext, info: GraphQLResolveInfo) => Promise<unknown>;

/** The loaders `loadThroughService` made: every Node type has one (tests/graphql/node-loaders.test.ts). */
const serviceLoaders = new WeakSet<NodeLoader>();

/**
 * How `node(id)` loads a type: its domain service's `read`, which decides who may read the row — refusing a caller
 * outside its rule before reading, keeping a member token to their own rows — with the query plugin-prisma plans for
 * the selection (as its own node loader would). Relay reads a node type's loader from the type's options, where these
 * come after the loader prismaNode hands relay and so replace it; prismaNode's option type does not name relay's
 * loaders, hence the spread into the type's options.
 */
export function loadThroughService<Shape>(
  typeName: string,
  read: (deps: ServiceDeps, id: string, shape: Shape, caller: Caller) => Promise<unknown>,
): { loadWithoutCache: NodeLoader } {
  const loadWithoutCache: NodeLoader = async (id, context, info) => {
    const query = await queryFromInfo({ context, info, typeName, awaitSelections: true });
    return read(context.deps, id, query as Shape, callerOf(context.principal));
  };
  serviceLoaders.add(loadWithoutCache);
  return { loadWithoutCache };
}

/** Whether a node type's options load it through its service (`loadThroughService`). */
export function loadsThroughService(typeOptions: { loadWithoutCache?: unknown } | undefined): boolean {
  const loader = typeOptions?.loadWithoutCache;
  return typeof loader === 'function' && serviceLoaders.has(loader as NodeLoader);
}
