// No useTestApp(): it reads the built schema's type options; no database.
import { isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';
import { loadsThroughService } from '../../src/graphql/node-loader.js';

/**
 * `node(id)` answers whatever a type's loader returns: the node field itself filters nothing. So every type that
 * implements Node must load through its domain service's read (`loadThroughService`), which refuses callers outside
 * its rule before reading and keeps a member token to their own rows. A new Node type with plugin-prisma's own loader
 * would read any row for any caller with credentials: this fails first.
 */
describe('every Node type loads through its service', () => {
  const nodeTypes = Object.values(getSchema().getTypeMap()).filter(
    (type) => isObjectType(type) && type.getInterfaces().some((iface) => iface.name === 'Node'),
  );

  it('finds the Node types', () => {
    expect(nodeTypes.map((type) => type.name)).toEqual(expect.arrayContaining(['Member', 'LedgerEntry', 'ApiKey', 'ServiceIncident']));
  });

  for (const type of nodeTypes) {
    it(type.name, () => {
      const options = type.extensions.pothosOptions as { loadWithoutCache?: unknown } | undefined;
      expect(loadsThroughService(options)).toBe(true);
    });
  }
});
