import {
  CALLER_KIND_LABELS,
  CALLER_KINDS,
  HTTP_PERMISSIONS,
  PERMISSION_MATRIX,
  type Access,
  type PermissionRow,
  type RootType,
} from './permission-matrix.js';

const SYMBOL: Record<Access, string> = { allow: '✓', own: 'own', deny: '–' };

const SECTIONS: { type: RootType; title: string }[] = [
  { type: 'Query', title: 'Queries' },
  { type: 'Mutation', title: 'Mutations' },
  { type: 'Subscription', title: 'Subscriptions' },
];

function table(header: string[], rows: [string, PermissionRow][]): string[] {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const [field, row] of rows) {
    const cells = CALLER_KINDS.map((kind) => SYMBOL[row.access[kind]]);
    lines.push(`| \`${field}\` | ${cells.join(' | ')} | ${row.note ?? ''} |`);
  }
  lines.push('');
  return lines;
}

/**
 * `docs/permissions.md`: the permission matrix as readable tables, one row per
 * root field. Printed by `npm run permissions:doc`; a test fails when the
 * committed file differs from this.
 */
export function printPermissionsDoc(): string {
  const lines = [
    '# Who may do what',
    '',
    '<!-- Generated from src/auth/permission-matrix.ts by `npm run permissions:doc`; do not edit by hand. -->',
    '',
    'Every root field of the GraphQL API and every kind of caller. `tests/permissions/permission-matrix.test.ts`',
    'checks each cell through real requests and fails when a field has no row;',
    '`tests/permissions/permissions-doc.test.ts` fails when this file differs from the table in code.',
    '',
    '- **✓** allowed (a mutation really happens).',
    '- **–** refused: `ForbiddenError` / `UnauthenticatedError` (typed in mutation results, as a GraphQL error',
    '  with code `FORBIDDEN` / `UNAUTHENTICATED` elsewhere) or null for a read; nothing is written.',
    '- **own** allowed on the caller’s own data only: a member’s own member, vouchers, contracts, rewards and',
    '  feedback; an agent’s own goodwill authority. Another’s is refused exactly as if it did not exist.',
    '',
    'Callers: *anonymous* has no token. *member (self)* is a member token acting on its own data, *member (other)*',
    'the same token aiming at another member’s (that member’s id, voucher code or contract reference). A *key* is',
    'a storefront API key carrying only that scope (a key with several scopes may do what each allows;',
    '`admin` acts as an ADMIN). AGENT, SUPERVISOR and ADMIN are staff tokens.',
    '',
  ];
  const header = ['field', ...CALLER_KINDS.map((kind) => CALLER_KIND_LABELS[kind]), 'note'];
  for (const { type, title } of SECTIONS) {
    lines.push(`## ${title}`, '');
    const rows = Object.entries(PERMISSION_MATRIX[type]).sort(([a], [b]) => a.localeCompare(b));
    if (rows.length === 0) {
      lines.push(`No ${title.toLowerCase()} yet.`, '');
      continue;
    }
    lines.push(...table(header, rows));
  }
  lines.push(
    '## HTTP paths',
    '',
    'Paths outside `/graphql` that answer by caller; refused means 401 without valid credentials, 403 for a valid',
    'caller below the rule. The console, `/healthz` and `/readyz` answer everyone alike; `/metrics` too, unless',
    '`METRICS_TOKEN` is set: then only a scrape that sends it as its bearer token (no token of this table opens it;',
    'docs/operations.md#prometheus-metrics).',
    '',
    ...table(['path', ...header.slice(1)], Object.entries(HTTP_PERMISSIONS)),
  );
  return lines.join('\n');
}
