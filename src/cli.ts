// Operator commands. Run with `npm run cli -- <command> [options]`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { publishCredentialEvent } from './auth/credential-sync.js';
import { signMemberToken, signStaffToken } from './auth/tokens.js';
import type { Caller, StaffRole } from './auth/principal.js';
import { loadConfig, type Config } from './config/env.js';
import { applyMigrations } from './db/migrate.js';
import { createPrisma, type PrismaClient } from './db/prisma.js';
import { createApiKey, revokeApiKey } from './domain/api-keys/api-keys.service.js';
import { DomainError } from './domain/errors.js';
import { findLedgerMismatches } from './domain/points/ledger-check.service.js';
import { isUuid } from './domain/validation.js';
import { createLogger, withoutSecrets, type Logger } from './logger.js';
import { connectRedis } from './redis/redis-client.js';
import { startEmbeddedPostgres } from './runtime/embedded-postgres.js';
import { withDevelopmentJwtSecret } from './runtime/dev-secret.js';

const USAGE = `Treue operator commands

  npm run cli -- create-api-key --name NAME --scopes SCOPE[,SCOPE…]
      Creates an API key and prints its token once. The first admin key:
      npm run cli -- create-api-key --name "first admin" --scopes admin
  npm run cli -- revoke-api-key ID_OR_PREFIX
      Revokes an API key (by id, or by the 8 characters after trk_). Running API
      processes refuse it at once when REDIS_URL (or the embedded Redis) is reachable,
      otherwise within 30 s (their cache). Revoking a revoked key changes nothing.
  npm run cli -- token --role AGENT|SUPERVISOR|ADMIN --sub STAFF_ID [--expires 8h]
  npm run cli -- token --member MEMBER_ID [--expires 1h]
      Mints an HS256 JWT with JWT_SECRET (or the development secret in .data/),
      at most JWT_MAX_LIFETIME_STAFF (12h) / JWT_MAX_LIFETIME_MEMBER (24h) long.
  npm run cli -- check-ledger
      Rebuilds every balance from the ledger and lists mismatches (exit 1 if any).

Without DATABASE_URL the commands use the embedded PostgreSQL of \`npm start\`
(running or not).`;

/** The service's database: DATABASE_URL, else the embedded one (started for the command if it is not running). */
async function openDatabase(config: Config) {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => undefined };
  const passwordFile = path.resolve(config.dataDir, 'postgres.password');
  const password = await readFile(passwordFile, 'utf8').then(
    (text) => text.trim(),
    () => null,
  );
  if (password !== null) {
    const url = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${config.embeddedPostgresPort}/treue`;
    const probe = new pg.Client({ connectionString: url });
    const running = await probe.connect().then(
      () => true,
      () => false,
    );
    await probe.end().catch(() => undefined);
    if (running) return { url, stop: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPostgresPort,
    logger: createLogger('warn'),
  });
  await applyMigrations(embedded.databaseUrl);
  return { url: embedded.databaseUrl, stop: () => embedded.stop() };
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      role: { type: 'string' },
      sub: { type: 'string' },
      member: { type: 'string' },
      expires: { type: 'string' },
    },
  });
  const config = loadConfig();

  // An argument a command does not take is refused, not ignored: `revoke-api-key A B` revoked A alone, and
  // `--name first admin` (unquoted) named a key "first".
  if (command === 'revoke-api-key' && positionals.length > 1) {
    console.error(`revoke-api-key takes one key at a time (given ${positionals.length}): run it once per key; nothing was revoked`);
    return 2;
  }
  if (command !== 'revoke-api-key' && positionals.length > 0) {
    console.error(
      `${command ?? ''}: unexpected argument(s) ${positionals.map((p) => JSON.stringify(p)).join(' ')} (quote a value with spaces)\n\n${USAGE}`,
    );
    return 2;
  }

  if (command === 'token') {
    if (values.member !== undefined && (values.role !== undefined || values.sub !== undefined)) {
      console.error('token: give either --member or --role with --sub, not both');
      return 2;
    }
    const { jwt } = await withDevelopmentJwtSecret(config);
    if (!jwt.secret) {
      console.error('token needs JWT_SECRET (with JWKS_URL, tokens come from your identity provider)');
      return 2;
    }
    const expiresIn = values.expires ?? '1h';
    let token: string;
    if (values.member) {
      token = await signMemberToken(jwt.secret, { memberId: values.member, expiresIn });
    } else {
      const role = values.role as StaffRole | undefined;
      if (!role || !['AGENT', 'SUPERVISOR', 'ADMIN'].includes(role) || !values.sub) {
        console.error(USAGE);
        return 2;
      }
      token = await signStaffToken(jwt.secret, { staffId: values.sub, role, expiresIn });
    }
    // The API refuses tokens that live longer than its maximum: say so now rather than with a 401 later.
    const { iat = 0, exp = 0 } = decodeJwt(token);
    const [variable, max] = values.member
      ? ['JWT_MAX_LIFETIME_MEMBER', jwt.maxLifetimeSeconds.member]
      : ['JWT_MAX_LIFETIME_STAFF', jwt.maxLifetimeSeconds.staff];
    // jose reads "1h ago" (or "-5m") as a time in the past: such a token is refused on first use.
    if (exp <= iat) {
      console.error(`--expires ${expiresIn} gives a token that is already expired: give a lifetime such as 1h or 8h`);
      return 2;
    }
    if (exp - iat > max) {
      console.error(`--expires ${expiresIn} is longer than ${variable} (${max} s): the API would refuse this token`);
      return 2;
    }
    // The API reads a member's id as a UUID and a staff id of at most 256 characters, and refuses other tokens.
    if (values.member && !isUuid(values.member)) {
      console.error(`--member ${JSON.stringify(values.member)} is not a member id (a UUID): the API would refuse this token`);
      return 2;
    }
    if (!values.member && values.sub && values.sub.length > 256) {
      console.error(`--sub is ${values.sub.length} characters long, more than 256: the API would refuse this token`);
      return 2;
    }
    console.log(token);
    return 0;
  }

  if (command !== 'create-api-key' && command !== 'check-ledger' && command !== 'revoke-api-key') {
    console.error(USAGE);
    return command === undefined || command === 'help' ? 0 : 2;
  }

  const database = await openDatabase(config);
  const prisma = createPrisma(database.url, 2);
  const logger = createLogger('warn');
  try {
    if (command === 'create-api-key') {
      if (!values.name || !values.scopes) {
        console.error(USAGE);
        return 2;
      }
      const scopes = values.scopes
        .split(',')
        .map((scope) => scope.trim())
        .filter(Boolean);
      // The operator at the command line already holds the database: they act as an ADMIN.
      const operator = { actor: { type: 'SYSTEM' as const, id: 'cli' }, role: 'ADMIN' as const };
      const { apiKey, token } = await createApiKey({ prisma, logger }, { name: values.name, scopes }, operator);
      console.log(`API key "${apiKey.name}" (${apiKey.scopes.join(', ')}) created. Its token, shown only now:\n${token}`);
      return 0;
    }
    if (command === 'revoke-api-key') return await revokeKey(config, prisma, logger, positionals[0]);
    const mismatches = await findLedgerMismatches({ prisma });
    if (mismatches.length === 0) {
      console.log('ledger check: every stored balance matches its ledger entries and lots');
      return 0;
    }
    console.log(`ledger check: ${mismatches.length} member(s) differ`);
    for (const mismatch of mismatches) console.log(JSON.stringify(mismatch));
    return 1;
  } finally {
    await prisma.$disconnect();
    await database.stop();
  }
}

/** `revoke-api-key`: revokes in the database, then tells the running API processes through Redis. */
async function revokeKey(config: Config, prisma: PrismaClient, logger: Logger, ref: string | undefined): Promise<number> {
  if (!ref) {
    console.error(USAGE);
    return 2;
  }
  const redisUrl = config.redisUrl ?? `redis://127.0.0.1:${config.embeddedRedisPort}`;
  const redis = connectRedis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  const connected = await redis.connect().then(
    () => true,
    () => false,
  );
  const credentials = {
    apiKeyRevoked: async (apiKeyId: string) => {
      if (connected) await publishCredentialEvent(redis, config.queuePrefix, { kind: 'apiKeyRevoked', apiKeyId }, logger);
    },
    memberStatusChanged: async () => undefined,
  };
  const caller: Caller = { actor: { type: 'SYSTEM', id: 'cli' }, role: 'ADMIN' };
  const byPrefix = !/^[0-9a-f-]{36}$/i.test(ref);
  try {
    const key = await revokeApiKey({ prisma, logger, credentials }, caller, byPrefix ? { prefix: ref } : { id: ref });
    console.log(`API key "${key.name}" (${key.prefix}) revoked at ${key.revokedAt?.toISOString()} by ${key.revokedBy}.`);
    console.log(
      connected
        ? 'Running API processes were told: they refuse it now.'
        : `Redis at ${withoutSecrets(redisUrl)} was not reachable: running API processes refuse the key within 30 s (their cache).`,
    );
    return 0;
  } catch (error) {
    if (error instanceof DomainError) {
      console.error(`revoke-api-key: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
