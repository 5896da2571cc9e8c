import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';

/**
 * Compares prisma/schema.prisma with a migrated database, offline.
 *
 * The datamodel comes from Prisma's own schema parser: the `prisma_schema_build` wasm
 * that ships inside the `prisma` CLI package (its `get_datamodel` is what `getDMMF`
 * wraps). It gives db names (@map/@@map), native types (@db.*), defaults, every index
 * (@id/@@id/@unique/@@unique/@@index with map names and sort order) and relations
 * with referential actions. The two things it omits, `@relation(map: …)` and a partial
 * index's `where: raw("…")` (the partialIndexes preview), are read from the schema text.
 *
 * The expectations reproduce what `prisma migrate dev` would generate for PostgreSQL
 * (column types, Prisma's default constraint names, default referential actions), so
 * any schema change without a matching migration shows up as a difference.
 * Not compared: CHECK constraints, triggers and functions (Prisma cannot express them),
 * sequences, views, and the values of list defaults (only their presence).
 */

// ---------------------------------------------------------------------------
// Prisma datamodel (the DMMF subset we read)

export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  type: string;
  isList: boolean;
  isRequired: boolean;
  hasDefaultValue: boolean;
  default?: DmmfDefault | string | number | boolean | Array<string | number | boolean>;
  nativeType?: [string, string[]] | null;
  isUpdatedAt?: boolean;
  relationName?: string;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfDefault {
  name: string;
  args: Array<string | number>;
}
export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
export interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: Array<{ name: string; dbName: string | null }>;
}
export interface DmmfIndex {
  model: string;
  type: 'id' | 'normal' | 'unique' | 'fulltext';
  dbName?: string;
  algorithm?: string;
  fields: Array<{ name: string; sortOrder?: 'asc' | 'desc' }>;
}
export interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
}

/** Parses and validates schema text with Prisma's parser; throws Prisma's validation errors. */
export function loadDatamodel(schemaText: string): Datamodel {
  const engine = schemaEngine();
  const params = JSON.stringify({ prismaSchema: schemaText });
  // get_datamodel skips building the query schema; older packages only have get_dmmf.
  const json = engine.call('get_datamodel', params) ?? engine.call('get_dmmf', params);
  if (json === undefined) throw new Error('prisma_schema_build wasm exposes neither get_datamodel nor get_dmmf');
  const parsed = JSON.parse(json) as Datamodel | { datamodel: Datamodel };
  return 'datamodel' in parsed ? parsed.datamodel : parsed;
}

// Minimal WebAssembly typings: the project's lib/types do not include the DOM/wasm ones.
interface WasmModule {
  readonly __wasmModule: true;
}
interface WasmApi {
  Module: { new (bytes: Uint8Array): WasmModule; imports(module: WasmModule): Array<{ module: string; name: string }> };
  Instance: new (
    module: WasmModule,
    imports: Record<string, Record<string, (...args: never[]) => unknown>>,
  ) => { exports: Record<string, unknown> };
}
interface ExternrefTable {
  get(index: number): unknown;
  set(index: number, value: unknown): void;
  grow(delta: number): number;
}
type WasmFn = (...args: number[]) => unknown;

let cachedEngine: { call(fn: string, input: string): string | undefined } | undefined;

/**
 * Instantiates prisma_schema_build_bg.wasm with a hand-written equivalent of its
 * wasm-bindgen glue (the CLI bundles the glue privately). The imports are matched by
 * name prefix, since wasm-bindgen suffixes them with a hash that changes per release;
 * an import we do not know fails loudly.
 */
function schemaEngine(): { call(fn: string, input: string): string | undefined } {
  if (cachedEngine) return cachedEngine;
  const require = createRequire(import.meta.url);
  const prismaDir = path.dirname(require.resolve('prisma/package.json'));
  const wasmPath = path.join(prismaDir, 'build', 'prisma_schema_build_bg.wasm');
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const module = new wasm.Module(readFileSync(wasmPath));

  let exports: Record<string, unknown> = {};
  const memory = () => new Uint8Array((exports.memory as { buffer: ArrayBuffer }).buffer);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const readString = (ptr: number, len: number) => decoder.decode(memory().subarray(ptr >>> 0, (ptr >>> 0) + len));
  const fn = (name: string) => exports[name] as WasmFn;
  const table = () => exports.__wbindgen_externrefs as ExternrefTable;

  const imports: Record<string, Record<string, (...args: never[]) => unknown>> = {};
  for (const { module: namespace, name } of wasm.Module.imports(module)) {
    const target = (imports[namespace] ??= {});
    if (name.startsWith('__wbg_Error_')) target[name] = (ptr: number, len: number) => new Error(readString(ptr, len));
    else if (name.startsWith('__wbg___wbindgen_throw_'))
      target[name] = (ptr: number, len: number) => {
        throw new Error(readString(ptr, len));
      };
    // Panic messages: the panic itself surfaces as a trap with the call.
    else if (name.startsWith('__wbg_set_message_')) target[name] = () => undefined;
    else if (name === '__wbindgen_init_externref_table')
      target[name] = () => {
        const t = table();
        const offset = t.grow(4);
        t.set(0, undefined);
        t.set(offset, undefined);
        t.set(offset + 1, null);
        t.set(offset + 2, true);
        t.set(offset + 3, false);
      };
    else throw new Error(`prisma_schema_build wasm wants an unknown import ${namespace}.${name}: update schema-drift.ts`);
  }
  exports = new wasm.Instance(module, imports).exports;
  fn('__wbindgen_start')();

  cachedEngine = {
    // A wasm-bindgen `fn(String) -> Result<String, JsError>`: returns [ptr, len, errIdx, isErr].
    call(name, input) {
      if (typeof exports[name] !== 'function') return undefined;
      const bytes = new TextEncoder().encode(input);
      const inPtr = fn('__wbindgen_malloc')(bytes.length, 1) as number;
      memory().set(bytes, inPtr >>> 0);
      const [ptr, len, errorIndex, isError] = fn(name)(inPtr, bytes.length) as [number, number, number, number];
      if (isError) {
        const error = table().get(errorIndex);
        fn('__externref_table_dealloc')(errorIndex);
        throw error instanceof Error ? new Error(prismaErrorMessage(error.message)) : error;
      }
      try {
        return readString(ptr, len);
      } finally {
        fn('__wbindgen_free')(ptr, len, 1);
      }
    },
  };
  return cachedEngine;
}

/** Prisma's errors are JSON with an ANSI-coloured message. */
function prismaErrorMessage(raw: string): string {
  try {
    const parsed = JSON.parse(raw) as { message?: string };
    // eslint-disable-next-line no-control-regex
    return (parsed.message ?? raw).replace(/\u001b\[[0-9;]*m/g, '');
  } catch {
    return raw;
  }
}

// ---------------------------------------------------------------------------
// Expected PostgreSQL schema

interface ExpectedColumn {
  type: string | undefined; // undefined: not checked (Unsupported)
  nullable: boolean;
  default: ExpectedDefault;
}
type ExpectedDefault =
  | { kind: 'none' }
  | { kind: 'any' } // dbgenerated() without expression, list defaults
  | { kind: 'sequence' }
  | { kind: 'expression'; sql: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'json'; value: unknown };

interface ExpectedIndex {
  table: string;
  name: string;
  columns: string[];
  descending: boolean[];
  unique: boolean;
  primary: boolean;
  method: string;
  /** A partial index's WHERE, as the schema writes it; null for a full index. */
  predicate: string | null;
}
interface ExpectedForeignKey {
  table: string;
  name: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}
interface ExpectedSchema {
  tables: Map<string, Map<string, ExpectedColumn>>;
  enums: Map<string, string[]>;
  indexes: ExpectedIndex[];
  foreignKeys: ExpectedForeignKey[];
  unsupported: string[];
}

const POSTGRES_MAX_IDENTIFIER_BYTES = 63;

function expectedSchema(schemaText: string, datamodel: Datamodel): ExpectedSchema {
  const tableOf = (model: DmmfModel) => model.dbName ?? model.name;
  const columnOf = (field: DmmfField) => field.dbName ?? field.name;
  const modelByName = new Map(datamodel.models.map((m) => [m.name, m]));
  const enumByName = new Map(datamodel.enums.map((e) => [e.name, e]));
  const relationMapNames = relationMapsFromText(schemaText);
  const indexPredicates = indexPredicatesFromText(schemaText);
  const relationModePrisma = /relationMode\s*=\s*"prisma"/.test(schemaText);
  const unsupported: string[] = [];

  const tables = new Map<string, Map<string, ExpectedColumn>>();
  for (const model of datamodel.models) {
    const columns = new Map<string, ExpectedColumn>();
    for (const field of model.fields) {
      if (field.kind === 'object') continue;
      const enumDef = field.kind === 'enum' ? enumByName.get(field.type) : undefined;
      columns.set(columnOf(field), {
        type: field.kind === 'unsupported' ? undefined : columnType(field, enumDef),
        // Prisma creates scalar lists without NOT NULL.
        nullable: field.isList || !field.isRequired,
        default: expectedDefault(field, enumDef),
      });
    }
    tables.set(tableOf(model), columns);
  }

  const enums = new Map(datamodel.enums.map((e) => [e.dbName ?? e.name, e.values.map((v) => v.dbName ?? v.name)] as const));

  const indexes: ExpectedIndex[] = [];
  for (const index of datamodel.indexes) {
    const model = modelByName.get(index.model);
    if (!model) continue;
    const table = tableOf(model);
    const columns = index.fields.map((f) => {
      const field = model.fields.find((candidate) => candidate.name === f.name);
      return field ? columnOf(field) : f.name;
    });
    if (index.type === 'fulltext') {
      unsupported.push(`${table}: fulltext index (not compared)`);
      continue;
    }
    const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
    indexes.push({
      table,
      name: index.dbName ?? (index.type === 'id' ? primaryKeyName(table) : indexName(table, columns, `_${suffix}`)),
      columns,
      descending: index.fields.map((f) => f.sortOrder === 'desc'),
      unique: index.type !== 'normal',
      primary: index.type === 'id',
      method: (index.algorithm ?? 'BTree').toLowerCase(),
      predicate:
        indexPredicates.get(
          index.dbName ? `${model.name}#${index.dbName}` : `${model.name}.${index.fields.map((f) => f.name).join(',')}`,
        ) ?? null,
    });
  }

  const foreignKeys: ExpectedForeignKey[] = [];
  for (const model of datamodel.models) {
    for (const field of model.fields) {
      if (field.kind !== 'object') continue;
      const target = modelByName.get(field.type);
      if (!target) continue;
      const from = field.relationFromFields ?? [];
      if (from.length === 0) {
        const other = target.fields.find((f) => f.relationName === field.relationName && f !== field && f.kind === 'object');
        if (field.isList && other?.isList) {
          unsupported.push(`implicit many-to-many relation ${field.relationName} (extend schema-drift.ts)`);
        }
        continue;
      }
      if (relationModePrisma) continue;
      const table = tableOf(model);
      const fromFields = from.map((name) => model.fields.find((f) => f.name === name));
      const columns = fromFields.map((f, i) => (f ? columnOf(f) : (from[i] ?? '?')));
      const anyRequired = fromFields.some((f) => f?.isRequired);
      foreignKeys.push({
        table,
        name: relationMapNames.get(`${model.name}.${field.name}`) ?? foreignKeyName(table, columns),
        columns,
        referencedTable: tableOf(target),
        referencedColumns: (field.relationToFields ?? []).map((name) => {
          const f = target.fields.find((candidate) => candidate.name === name);
          return f ? columnOf(f) : name;
        }),
        // Prisma's defaults: Restrict when the relation is required, else SetNull; updates cascade.
        onDelete: field.relationOnDelete ?? (anyRequired ? 'Restrict' : 'SetNull'),
        onUpdate: field.relationOnUpdate ?? 'Cascade',
      });
    }
  }

  return { tables, enums, indexes, foreignKeys, unsupported };
}

/** The type as `format_type()` prints it for the column Prisma would create. */
function columnType(field: DmmfField, enumDef: DmmfEnum | undefined): string {
  const list = field.isList ? '[]' : '';
  if (field.kind === 'enum') return `${quoteIdentIfNeeded(enumDef?.dbName ?? field.type)}${list}`;
  const [native, args = []] = field.nativeType ?? [undefined, []];
  const withArgs = (base: string) => (args.length ? `${base}(${args.join(',')})` : base);
  const base = ((): string => {
    switch (native ?? `default:${field.type}`) {
      case 'default:String':
      case 'Text':
        return 'text';
      case 'VarChar':
        return withArgs('character varying');
      case 'Char':
        return withArgs('character');
      case 'Uuid':
        return 'uuid';
      case 'Xml':
        return 'xml';
      case 'Inet':
        return 'inet';
      case 'Citext':
        return 'citext';
      case 'Bit':
        return withArgs('bit');
      case 'VarBit':
        return withArgs('bit varying');
      case 'default:Int':
      case 'Integer':
        return 'integer';
      case 'SmallInt':
        return 'smallint';
      case 'Oid':
        return 'oid';
      case 'default:BigInt':
      case 'BigInt':
        return 'bigint';
      case 'default:Float':
      case 'DoublePrecision':
        return 'double precision';
      case 'Real':
        return 'real';
      case 'default:Decimal':
        return 'numeric(65,30)';
      case 'Decimal':
        return withArgs('numeric');
      case 'Money':
        return 'money';
      case 'default:DateTime':
        return 'timestamp(3) without time zone';
      case 'Timestamp':
        return `${withArgs('timestamp')} without time zone`;
      case 'Timestamptz':
        return `${withArgs('timestamp')} with time zone`;
      case 'Date':
        return 'date';
      case 'Time':
        return `${withArgs('time')} without time zone`;
      case 'Timetz':
        return `${withArgs('time')} with time zone`;
      case 'default:Boolean':
      case 'Boolean':
        return 'boolean';
      case 'default:Json':
      case 'JsonB':
        return 'jsonb';
      case 'Json':
        return 'json';
      case 'default:Bytes':
      case 'ByteA':
        return 'bytea';
      default:
        return `<no mapping for ${field.type}${native ? ` @db.${native}` : ''} in schema-drift.ts>`;
    }
  })();
  return `${base}${list}`;
}

function expectedDefault(field: DmmfField, enumDef: DmmfEnum | undefined): ExpectedDefault {
  const value = field.default;
  if (value === undefined) return { kind: 'none' };
  if (Array.isArray(value)) return { kind: 'any' };
  if (typeof value === 'object') {
    switch (value.name) {
      case 'now':
        return { kind: 'expression', sql: 'CURRENT_TIMESTAMP' };
      case 'autoincrement':
        return { kind: 'sequence' };
      case 'dbgenerated': {
        const sql = value.args[0];
        return typeof sql === 'string' && sql.length > 0 ? { kind: 'expression', sql } : { kind: 'any' };
      }
      // uuid(), cuid(), nanoid(), ulid() are generated by the client: no database default.
      default:
        return { kind: 'none' };
    }
  }
  if (field.kind === 'enum') {
    const enumValue = enumDef?.values.find((v) => v.name === value);
    return { kind: 'string', value: enumValue?.dbName ?? String(value) };
  }
  switch (field.type) {
    case 'Int':
    case 'BigInt':
    case 'Float':
    case 'Decimal':
      return { kind: 'number', value: Number(value) };
    case 'Boolean':
      return { kind: 'boolean', value: value === true || value === 'true' };
    case 'Json':
      return { kind: 'json', value: typeof value === 'string' ? JSON.parse(value) : value };
    default:
      return { kind: 'string', value: String(value) };
  }
}

/** The lines inside each `model { … }` block of the schema text, comments stripped, with their model's name. */
function modelLines(schemaText: string): Array<{ model: string; line: string }> {
  const lines: Array<{ model: string; line: string }> = [];
  let model: string | undefined;
  for (const rawLine of schemaText.split(/\r?\n/)) {
    const line = rawLine.replace(/\/\/.*$/, '').trim();
    const start = /^model\s+(\w+)\s*\{/.exec(line);
    if (start) model = start[1];
    else if (line.startsWith('}')) model = undefined;
    else if (model) lines.push({ model, line });
  }
  return lines;
}

/** `@relation(..., map: "name")` per `Model.field`, which the datamodel does not carry. */
function relationMapsFromText(schemaText: string): Map<string, string> {
  const maps = new Map<string, string>();
  for (const { model, line } of modelLines(schemaText)) {
    const field = /^(\w+)\s/.exec(line)?.[1];
    const map = /@relation\([^)]*\bmap\s*:\s*"([^"]+)"/.exec(line)?.[1];
    if (field && map) maps.set(`${model}.${field}`, map);
  }
  return maps;
}

/**
 * `where: raw("…")` of each @@index and @@unique, keyed by model and field names (`Model.a,b`), or by model
 * and `map` name when it has one (`Model#name`): the datamodel leaves it out. One attribute per line, as prisma format writes them.
 */
function indexPredicatesFromText(schemaText: string): Map<string, string> {
  const predicates = new Map<string, string>();
  for (const { model, line } of modelLines(schemaText)) {
    const index = /^@@(?:index|unique)\(\[([^\]]*)\].*\bwhere\s*:\s*raw\(\s*"((?:[^"\\]|\\.)*)"\s*\)/.exec(line);
    if (!index) continue;
    const fields = index[1]!.split(',').map((field) => field.trim().replace(/\(.*$/, ''));
    // Two indexes on the same fields with different conditions are told apart by their `map` names.
    const name = /\bmap\s*:\s*"([^"]+)"/.exec(line)?.[1];
    predicates.set(name ? `${model}#${name}` : `${model}.${fields.join(',')}`, index[2]!.replace(/\\(.)/g, '$1'));
  }
  return predicates;
}

/**
 * A WHERE compared loosely: PostgreSQL prints it back parenthesised (`((a IS NULL) AND (b IS NULL))`), so
 * parentheses, spaces and case are left out. Enough to tell a missing, extra or different condition.
 */
function samePredicate(a: string | null, b: string | null): boolean {
  const loose = (predicate: string | null) => predicate?.replace(/[()\s"]/g, '').toLowerCase() ?? null;
  return loose(a) === loose(b);
}

/** Prisma's ConstraintNames (psl), truncating to PostgreSQL's 63 bytes. */
function primaryKeyName(table: string): string {
  return `${truncateBytes(table, POSTGRES_MAX_IDENTIFIER_BYTES - 5)}_pkey`;
}
function indexName(table: string, columns: string[], suffix: string): string {
  return `${truncateBytes(`${table}_${columns.join('_')}`, POSTGRES_MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}
function foreignKeyName(table: string, columns: string[]): string {
  return `${truncateBytes(`${table}_${columns.join('_')}`, POSTGRES_MAX_IDENTIFIER_BYTES - 5)}_fkey`;
}
function truncateBytes(text: string, maxBytes: number): string {
  let out = '';
  for (const char of text) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
}

function quoteIdentIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

// ---------------------------------------------------------------------------
// Actual PostgreSQL schema (the connection's current schema)

interface ActualColumn {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  default: string | null;
}
interface ActualIndex {
  table: string;
  name: string;
  columns: Array<string | null>;
  descending: boolean[];
  unique: boolean;
  primary: boolean;
  method: string;
  predicate: string | null;
}
interface ActualForeignKey {
  table: string;
  name: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}

const IGNORED_TABLES = new Set(['_prisma_migrations']);
const REFERENTIAL_ACTIONS: Record<string, string> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

async function readDatabase(client: pg.Client) {
  const tables = await client.query<{ table: string }>(
    `SELECT c.relname AS table FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')`,
  );
  const columns = await client.query<ActualColumn>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
        AND a.attnum > 0 AND NOT a.attisdropped`,
  );
  const enums = await client.query<{ name: string; values: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = current_schema()::regnamespace
      GROUP BY t.typname`,
  );
  const indexes = await client.query<ActualIndex>(
    `SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
            am.amname AS method, pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
            array_agg(a.attname::text ORDER BY k.ord) AS columns,
            array_agg((ix.indoption[k.ord - 1] & 1) = 1 ORDER BY k.ord) AS descending
       FROM pg_index ix
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_class t ON t.oid = ix.indrelid
       JOIN pg_am am ON am.oid = i.relam
       CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE t.relnamespace = current_schema()::regnamespace AND k.ord <= ix.indnkeyatts
      GROUP BY t.relname, i.relname, ix.indisunique, ix.indisprimary, am.amname, ix.indpred, ix.indrelid`,
  );
  const foreignKeys = await client.query<ActualForeignKey>(
    `SELECT t.relname AS table, con.conname AS name, rt.relname AS "referencedTable",
            con.confdeltype AS "onDelete", con.confupdtype AS "onUpdate",
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)
              AS "referencedColumns"
       FROM pg_constraint con
       JOIN pg_class t ON t.oid = con.conrelid
       JOIN pg_class rt ON rt.oid = con.confrelid
      WHERE con.contype = 'f' AND t.relnamespace = current_schema()::regnamespace`,
  );
  const keep = <T extends { table: string }>(rows: T[]) => rows.filter((r) => !IGNORED_TABLES.has(r.table));
  return {
    tables: keep(tables.rows).map((r) => r.table),
    columns: keep(columns.rows),
    enums: enums.rows,
    indexes: keep(indexes.rows),
    foreignKeys: keep(foreignKeys.rows).map((fk) => ({
      ...fk,
      onDelete: REFERENTIAL_ACTIONS[fk.onDelete] ?? fk.onDelete,
      onUpdate: REFERENTIAL_ACTIONS[fk.onUpdate] ?? fk.onUpdate,
    })),
  };
}

// ---------------------------------------------------------------------------
// Comparison

/**
 * Every way the database at `databaseUrl` differs from what `schemaText` describes;
 * empty when they match. Throws when the schema text does not validate.
 */
export async function compareSchemaToDatabase(schemaText: string, databaseUrl: string): Promise<string[]> {
  const expected = expectedSchema(schemaText, loadDatamodel(schemaText));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let actual: Awaited<ReturnType<typeof readDatabase>>;
  try {
    const schema = new URL(databaseUrl).searchParams.get('schema');
    if (schema) await client.query(`SET search_path TO "${schema.replaceAll('"', '""')}"`);
    actual = await readDatabase(client);
  } finally {
    await client.end();
  }

  const differences: string[] = expected.unsupported.map((u) => `unsupported by the drift check: ${u}`);
  const add = (message: string) => differences.push(message);

  // Tables and columns
  for (const table of actual.tables) {
    if (!expected.tables.has(table)) add(`table ${table}: exists in the database but not in the schema`);
  }
  for (const [table, columns] of expected.tables) {
    if (!actual.tables.includes(table)) {
      add(`table ${table}: missing from the database`);
      continue;
    }
    const actualColumns = new Map(actual.columns.filter((c) => c.table === table).map((c) => [c.column, c]));
    for (const column of actualColumns.keys()) {
      if (!columns.has(column)) add(`column ${table}.${column}: exists in the database but not in the schema`);
    }
    for (const [column, want] of columns) {
      const have = actualColumns.get(column);
      if (!have) {
        add(`column ${table}.${column}: missing from the database`);
        continue;
      }
      const where = `column ${table}.${column}`;
      if (want.type !== undefined && want.type !== have.type) {
        add(`${where}: type is ${have.type}, the schema wants ${want.type}`);
      }
      if (want.nullable !== have.nullable) {
        const show = (nullable: boolean) => (nullable ? 'nullable' : 'NOT NULL');
        add(`${where}: is ${show(have.nullable)}, the schema wants ${show(want.nullable)}`);
      }
      const defaultProblem = compareDefault(want.default, have.default);
      if (defaultProblem) add(`${where}: ${defaultProblem}`);
    }
  }

  // Enums (Prisma compares value sets, not their order)
  for (const { name, values } of actual.enums) {
    if (!expected.enums.has(name)) add(`enum ${name}: exists in the database but not in the schema`);
    else {
      const want = expected.enums.get(name) ?? [];
      const missing = want.filter((v) => !values.includes(v));
      const extra = values.filter((v) => !want.includes(v));
      if (missing.length) add(`enum ${name}: values missing from the database: ${missing.join(', ')}`);
      if (extra.length) add(`enum ${name}: values in the database but not in the schema: ${extra.join(', ')}`);
    }
  }
  for (const name of expected.enums.keys()) {
    if (!actual.enums.some((e) => e.name === name)) add(`enum ${name}: missing from the database`);
  }

  // Primary keys, unique and plain indexes (Prisma creates all of them as indexes, by name)
  const describeIndex = (i: { primary: boolean; unique: boolean }) => (i.primary ? 'primary key' : i.unique ? 'unique index' : 'index');
  for (const want of expected.indexes) {
    const have = actual.indexes.find((i) => i.table === want.table && i.name === want.name);
    const label = `${describeIndex(want)} ${want.table}.${want.name} (${want.columns.join(', ')})`;
    if (!have) {
      const sameColumns = actual.indexes.find(
        (i) => i.table === want.table && sameList(i.columns, want.columns) && i.unique === want.unique,
      );
      const hint = sameColumns ? ` (an index on those columns is named ${sameColumns.name})` : '';
      add(`${label}: missing from the database${hint}`);
      continue;
    }
    if (!sameList(have.columns, want.columns)) {
      add(`${label}: covers (${have.columns.join(', ')}) in the database`);
    }
    if (!sameList(have.descending, want.descending)) {
      const render = (desc: boolean[]) => desc.map((d) => (d ? 'DESC' : 'ASC')).join(', ');
      add(`${label}: sort order is (${render(have.descending)}), the schema wants (${render(want.descending)})`);
    }
    if (have.primary !== want.primary || have.unique !== want.unique) {
      add(`${label}: is a ${describeIndex(have)} in the database`);
    }
    if (have.method !== want.method) add(`${label}: uses ${have.method}, the schema wants ${want.method}`);
    if (!samePredicate(have.predicate, want.predicate)) {
      if (want.predicate === null) add(`${label}: is partial (WHERE ${have.predicate}) in the database`);
      else if (have.predicate === null) add(`${label}: is not partial in the database, the schema wants WHERE ${want.predicate}`);
      else add(`${label}: is partial (WHERE ${have.predicate}) in the database, the schema wants WHERE ${want.predicate}`);
    }
  }
  for (const have of actual.indexes) {
    if (!expected.indexes.some((i) => i.table === have.table && i.name === have.name)) {
      const label = `${describeIndex(have)} ${have.table}.${have.name} (${have.columns.join(', ')})`;
      add(`${label}: exists in the database but not in the schema`);
    }
  }

  // Foreign keys
  for (const want of expected.foreignKeys) {
    const have = actual.foreignKeys.find((fk) => fk.table === want.table && fk.name === want.name);
    const label = `foreign key ${want.table}.${want.name}`;
    if (!have) {
      add(`${label} (${want.columns.join(', ')}) -> ${want.referencedTable}: missing from the database`);
      continue;
    }
    if (!sameList(have.columns, want.columns)) {
      add(`${label}: columns are (${have.columns.join(', ')}), the schema wants (${want.columns.join(', ')})`);
    }
    if (have.referencedTable !== want.referencedTable || !sameList(have.referencedColumns, want.referencedColumns)) {
      add(
        `${label}: references ${have.referencedTable}(${have.referencedColumns.join(', ')}), ` +
          `the schema wants ${want.referencedTable}(${want.referencedColumns.join(', ')})`,
      );
    }
    if (have.onDelete !== want.onDelete) add(`${label}: ON DELETE ${have.onDelete}, the schema wants ${want.onDelete}`);
    if (have.onUpdate !== want.onUpdate) add(`${label}: ON UPDATE ${have.onUpdate}, the schema wants ${want.onUpdate}`);
  }
  for (const have of actual.foreignKeys) {
    if (!expected.foreignKeys.some((fk) => fk.table === have.table && fk.name === have.name)) {
      const label = `foreign key ${have.table}.${have.name} (${have.columns.join(', ')}) -> ${have.referencedTable}`;
      add(`${label}: exists in the database but not in the schema`);
    }
  }

  return differences.sort();
}

function compareDefault(want: ExpectedDefault, have: string | null): string | undefined {
  const show = (value: string | null) => (value === null ? 'no default' : `default ${value}`);
  switch (want.kind) {
    case 'none':
      return have === null ? undefined : `has ${show(have)}, the schema has none`;
    case 'any':
      return have === null ? 'has no default, the schema has one' : undefined;
    case 'sequence':
      return have?.startsWith('nextval(') ? undefined : `has ${show(have)}, the schema wants autoincrement()`;
    case 'expression':
      return have !== null && normaliseExpression(have) === normaliseExpression(want.sql)
        ? undefined
        : `has ${show(have)}, the schema wants ${want.sql}`;
    case 'number': {
      const literal = have === null ? undefined : (unquoteLiteral(have) ?? have);
      return literal !== undefined && Number(literal) === want.value ? undefined : `has ${show(have)}, the schema wants ${want.value}`;
    }
    case 'boolean':
      return have === String(want.value) ? undefined : `has ${show(have)}, the schema wants ${want.value}`;
    case 'string':
      return have !== null && unquoteLiteral(have) === want.value ? undefined : `has ${show(have)}, the schema wants '${want.value}'`;
    case 'json': {
      const literal = have === null ? undefined : unquoteLiteral(have);
      let same = false;
      try {
        same = literal !== undefined && canonicalJson(JSON.parse(literal)) === canonicalJson(want.value);
      } catch {
        same = false;
      }
      return same ? undefined : `has ${show(have)}, the schema wants ${JSON.stringify(want.value)}`;
    }
  }
}

/** `'it''s'::text` -> `it's`; undefined when not a quoted literal. */
function unquoteLiteral(sql: string): string | undefined {
  const match = /^'((?:[^']|'')*)'(?:::.+)?$/s.exec(sql.trim());
  return match?.[1]?.replaceAll("''", "'");
}

/** Loose equality for expressions PostgreSQL re-renders: case, spacing, casts, outer parentheses. */
function normaliseExpression(sql: string): string {
  let out = sql
    .toLowerCase()
    .replace(/::[a-z_ ]+(\(\d+(,\d+)?\))?(\[\])?/g, '')
    .replace(/\s+/g, '');
  while (out.startsWith('(') && out.endsWith(')')) out = out.slice(1, -1);
  return out;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
