import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { isClusterUrl, redisUrlProblem } from '../redis/redis-url.js';

/**
 * The only place that reads `process.env`. Everything else receives a `Config`.
 * An empty or whitespace-only value counts as unset, for every variable: `DATABASE_URL= npm start` uses the
 * embedded default, and `PORT=` or `RATE_LIMIT_MEMBER_MUTATIONS=` (a blank Helm value, `${VAR:-}` in a compose
 * file) keeps the default rather than becoming 0, which `z.coerce.number()` would make of it.
 */
function withoutBlankValues(source: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(source).filter(([, value]) => !(typeof value === 'string' && value.trim() === '')));
}
const optionalUrl = z.url().optional();
const optionalString = z.string().optional();

/**
 * Production secrets (JWT_SECRET, ADMIN_SESSION_SECRET): at least 32 characters everywhere, and in production at
 * least 10 different ones, so that a placeholder such as `aaaa…` or `changemechangeme…` is refused.
 */
const SECRET_MIN_LENGTH = 32;
const SECRET_MIN_DISTINCT_CHARACTERS = 10;
const hasTooLittleVariety = (secret: string | undefined) => secret !== undefined && new Set(secret).size < SECRET_MIN_DISTINCT_CHARACTERS;

const rateLimit = (fallback: number) => z.coerce.number().int().min(0).max(1_000_000_000).default(fallback);

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };
/** A duration such as `90s`, `30m`, `12h`, `7d` or a bare number of seconds, as whole seconds. */
const durationSeconds = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => /^\d+\s*[smhd]?$/.test(text.trim()), 'expected a duration such as 90s, 30m, 12h or 7d')
    .transform((text) => {
      const [, amount, unit] = /^(\d+)\s*([smhd]?)$/.exec(text.trim())!;
      return Number(amount) * DURATION_UNITS[unit || 's']!;
    })
    .refine((seconds) => seconds >= 60, 'must be at least one minute');

/**
 * An OpenTelemetry enumeration: read case-insensitively, as the specification asks; any other value, including
 * one of the specification's that the service does not support, is refused with the accepted ones.
 */
const otelEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((text) => text.trim().toLowerCase())
    .pipe(z.enum(values, { error: (issue) => `unsupported value ${JSON.stringify(issue.input)}; accepted: ${values.join(', ')}` }));

/** OTEL_TRACES_SAMPLER: the specification's samplers less `jaeger_remote`, `parentbased_jaeger_remote` and `xray`. */
const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

/** OTEL_EXPORTER_OTLP_PROTOCOL's values in the specification; `grpc` is refused (see tracingConfig). */
const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
/**
 * What spans can be sent as: OTLP/HTTP with protobuf bodies (@opentelemetry/exporter-trace-otlp-proto) or with JSON
 * bodies (@opentelemetry/exporter-trace-otlp-http). Only the chosen exporter is loaded (src/telemetry/tracing.ts).
 */
const OTLP_PROTOCOLS_SENT = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS_SENT)[number];
/**
 * The protocol when neither variable is set: `http/json`, not the specification's `http/protobuf` (a SHOULD there,
 * which names backward compatibility as a good reason for another default). The service sent JSON alone before it
 * read these variables, so a deployment that sets only an endpoint has a collector known to take JSON, not one known
 * to take protobuf: were an upgrade to switch the wire format, it could lose its traces, and a failed export reaches
 * no log. JSON is optional in OTLP: a backend that takes protobuf only needs `http/protobuf` set.
 */
const OTLP_PROTOCOL_DEFAULT: OtlpProtocol = 'http/json';

const otlpTimeout = z.coerce.number().int().min(100).max(120_000);

/**
 * `a=1,b=x%20y`: keys and values percent-decoded, spaces around them dropped. A pair without `=`, with an empty key
 * or with a broken percent-encoding is refused (the message names no value: headers hold API keys).
 */
const keyValueList = z
  .string()
  .optional()
  .transform((text, context) => {
    const pairs: Record<string, string> = {};
    for (const pair of (text ?? '').split(',')) {
      if (pair.trim() === '') continue;
      const at = pair.indexOf('=');
      try {
        const key = decodeURIComponent(pair.slice(0, Math.max(at, 0)).trim());
        if (at < 0 || key === '') throw new URIError('no key');
        pairs[key] = decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        context.addIssue({ code: 'custom', message: 'expected key=value pairs separated by commas, percent-encoded' });
        return z.NEVER;
      }
    }
    return pairs;
  });

/**
 * OTEL_PROPAGATORS: what is read from callers and carried into jobs. `tracecontext` (W3C `traceparent`) and
 * `baggage` (W3C `baggage`), in any order and case, duplicates allowed; `none` alone: nothing. `b3`, `b3multi`,
 * `jaeger`, `xray` and `ottrace` are refused.
 */
const PROPAGATORS = ['tracecontext', 'baggage'] as const;
export type Propagator = (typeof PROPAGATORS)[number];
const propagatorList = z.string().transform((text, context) => {
  const names = text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  const unsupported = names.find((name) => name !== 'none' && !(PROPAGATORS as readonly string[]).includes(name));
  if (unsupported !== undefined || names.length === 0) {
    context.addIssue({
      code: 'custom',
      message: `unsupported value ${JSON.stringify(unsupported ?? text)}; accepted: ${[...PROPAGATORS, 'none'].join(', ')}, as a comma-separated list`,
    });
    return z.NEVER;
  }
  if (names.includes('none') && names.some((name) => name !== 'none')) {
    context.addIssue({ code: 'custom', message: 'none stands alone: it means no propagator, and cannot be listed with one' });
    return z.NEVER;
  }
  return PROPAGATORS.filter((name) => names.includes(name));
});

/** OTEL_EXPORTER_OTLP_COMPRESSION's values in the specification: the export bodies gzipped, or not. */
const OTLP_COMPRESSIONS = ['gzip', 'none'] as const;
export type OtlpCompression = (typeof OTLP_COMPRESSIONS)[number];

/**
 * A PEM file of the export's TLS (OTEL_EXPORTER_OTLP_*CERTIFICATE, *CLIENT_KEY), read once at startup, its path taken
 * relative to the working directory as the exporter takes it. A file that cannot be read or holds no PEM block of the
 * kind is refused here, not left for the exporter, which would only warn and connect without it. Messages name the
 * path, never the file's text.
 */
const pemFile = (kind: 'certificate' | 'private key') =>
  z.string().transform((path, context) => {
    let text: string;
    try {
      text = readFileSync(resolve(path), 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      context.addIssue({ code: 'custom', message: `cannot read ${path} (${reason})` });
      return z.NEVER;
    }
    const block = kind === 'certificate' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;
    if (!block.test(text)) {
      context.addIssue({ code: 'custom', message: `${path} holds no PEM ${kind} (-----BEGIN ${kind.toUpperCase()}-----)` });
      return z.NEVER;
    }
    if (kind === 'private key' && /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
      context.addIssue({ code: 'custom', message: `${path} holds an encrypted private key; the service has no passphrase for it` });
      return z.NEVER;
    }
    try {
      if (kind === 'certificate') new X509Certificate(text);
      else createPrivateKey(text);
    } catch (error) {
      context.addIssue({ code: 'custom', message: `${path} holds no usable PEM ${kind} (${(error as Error).message})` });
      return z.NEVER;
    }
    return text;
  });

/** A count limit of spans (OTEL_*_COUNT_LIMIT): 0 keeps none. */
const countLimit = z.coerce.number().int().min(0).max(10_000);
/** OTEL_*_ATTRIBUTE_VALUE_LENGTH_LIMIT: characters of a string attribute kept; unset, no limit. */
const valueLengthLimit = z.coerce.number().int().min(0).max(1_000_000);
/** A variable the SDK reads under a name of its own, refused for the specification's name. */
const renamed = (specified: string) =>
  z
    .unknown()
    .optional()
    .refine((value) => value === undefined, `not read; set ${specified}, the specification's name`);

/**
 * Connections per process (`DATABASE_POOL_SIZE`). PostgreSQL gets the most work done with few active
 * connections per core of its own, each running its statement to the end; more backends than that take
 * turns on the cores and spend the turns on switching. On the bench's 2 cores (`bench/README.md`, the pool
 * rounds of 2026-12-03), the member-status statement cost 0.46–0.47 ms of PostgreSQL CPU per answer with
 * pools of 3 and 5 and 0.85–0.86 ms with 10 and 20; an earn 0.91–1.08 against 1.53–1.56 ms. Requests beyond
 * the pool wait for a connection in the process, which costs nothing while they wait. One process holds one
 * pool, shared by its API and its workers.
 */
export const DEFAULT_DATABASE_POOL_SIZE = 5;

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(4000),
    HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: optionalUrl,
    /** One Redis (`redis://`, `rediss://`) or a Redis Cluster's seed nodes (`redis+cluster://host:port,host:port`). */
    REDIS_URL: z
      .string()
      .superRefine((url, context) => {
        const problem = redisUrlProblem(url);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /**
     * Prefix of every Redis key and channel (default `treue`, `{treue}` on a cluster). On a cluster it must
     * be a hash tag: BullMQ's scripts touch several keys of a queue at once, and they must share a slot.
     */
    QUEUE_PREFIX: z.string().min(1).optional(),
    JWT_SECRET: optionalString,
    JWKS_URL: optionalUrl,
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    /**
     * Signs the queue dashboard's session cookie (src/http/queue-board.ts); default JWT_SECRET. Needed when
     * tokens come from JWKS_URL and there is no JWT_SECRET.
     */
    ADMIN_SESSION_SECRET: optionalString,
    /** Longest accepted lifetime of a token (exp − iat, or exp − now without iat), per kind of token. */
    JWT_MAX_LIFETIME_STAFF: durationSeconds('12h'),
    JWT_MAX_LIFETIME_MEMBER: durationSeconds('24h'),
    /**
     * What `npm start` (src/main.ts) runs: `all` (API and workers, embedded PostgreSQL/Redis when
     * no URLs are given), `api` (`npm run api`) or `workers` — the last two need DATABASE_URL and REDIS_URL.
     */
    TREUE_ROLE: z.enum(['all', 'api', 'workers']).default('all'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Where the embedded PostgreSQL keeps its data when no DATABASE_URL is given. */
    DATA_DIR: z.string().default('.data'),
    /** Ports of the embedded PostgreSQL / Redis (127.0.0.1 only); clear of the standard 5432 / 6379. */
    EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
    EMBEDDED_REDIS_PORT: z.coerce.number().int().min(1).max(65535).default(63790),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(DEFAULT_DATABASE_POOL_SIZE),
    WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
    /** Jobs each queue's worker runs at once (they share the database pool). */
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
    /** How long a job's lock lasts without renewal: a dead worker's jobs are recovered after it. */
    WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
    /**
     * Compensation jobs the worker process runs at once. More than WORKER_CONCURRENCY: the jobs running at once are
     * decided in one transaction (docs/architecture.md), so a backlog makes larger groups, not more connections.
     */
    WORKER_COMPENSATION_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
    /** Compensation jobs decided in one transaction at most; 1: each alone. Default and cap: WORKER_COMPENSATION_CONCURRENCY. */
    WORKER_COMPENSATION_GROUP_SIZE: z.coerce.number().int().min(1).max(256).optional(),
    /** Where the worker process serves its own /metrics (jobs' business counters); unset: not served. */
    WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    /**
     * The bearer token a scrape of /metrics (API and worker process) must send (src/http/metrics-access.ts); unset:
     * /metrics answers anyone, and a production start warns.
     */
    METRICS_TOKEN: optionalString,
    /**
     * OpenTelemetry traces (docs/operations.md#traces): off unless an OTLP endpoint is set. The base
     * endpoint gets `/v1/traces` appended; the traces endpoint is taken as it is. Every value of the
     * specification the service does not act on is refused here, not replaced by another in silence.
     */
    OTEL_SDK_DISABLED: otelEnum(['true', 'false']).default('false'),
    /** `otlp` (the default) or `none` (tracing off); `console`, `zipkin` and lists are refused. */
    OTEL_TRACES_EXPORTER: otelEnum(['otlp', 'none']).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
    /** The specification's values; the traces one wins; `http/json` when neither is set, `grpc` refused (see tracingConfig). */
    OTEL_EXPORTER_OTLP_PROTOCOL: otelEnum(OTLP_PROTOCOLS).optional(),
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otelEnum(OTLP_PROTOCOLS).optional(),
    /** `key=value,key2=value2` (W3C baggage style, values percent-encoded), e.g. an API key of the tracing backend. */
    OTEL_EXPORTER_OTLP_HEADERS: keyValueList,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueList,
    OTEL_EXPORTER_OTLP_TIMEOUT: otlpTimeout.default(10_000),
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: otlpTimeout.optional(),
    /** `gzip` or `none` (the default); the traces one wins. */
    OTEL_EXPORTER_OTLP_COMPRESSION: otelEnum(OTLP_COMPRESSIONS).optional(),
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: otelEnum(OTLP_COMPRESSIONS).optional(),
    /** TLS of an https:// endpoint: the CAs trusted instead of the system's, and a client certificate (mutual TLS). */
    OTEL_EXPORTER_OTLP_CERTIFICATE: pemFile('certificate').optional(),
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: pemFile('certificate').optional(),
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: pemFile('certificate').optional(),
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: pemFile('certificate').optional(),
    OTEL_EXPORTER_OTLP_CLIENT_KEY: pemFile('private key').optional(),
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: pemFile('private key').optional(),
    /** service.name: OTEL_SERVICE_NAME, else the one in OTEL_RESOURCE_ATTRIBUTES, else `treue`. */
    OTEL_SERVICE_NAME: z.string().min(1).max(100).optional(),
    /** Attributes of the resource every span names, as `key=value,…` (percent-encoded), e.g. `deployment.environment=prod`. */
    OTEL_RESOURCE_ATTRIBUTES: keyValueList,
    /** What is read from requests and carried into jobs (see propagatorList); default `tracecontext`. */
    OTEL_PROPAGATORS: propagatorList.optional(),
    OTEL_TRACES_SAMPLER: otelEnum(TRACES_SAMPLERS).optional(),
    /** The ratio of `traceidratio` and `parentbased_traceidratio` (default 1); alone, it means the latter (see tracingConfig). */
    OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
    /**
     * The batch span processor, with the specification's defaults: milliseconds between two exports, and an export's
     * longest wait; spans buffered at most (more are dropped), and sent in one export at most.
     */
    OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(0).max(600_000).default(5_000),
    OTEL_BSP_EXPORT_TIMEOUT: z.coerce.number().int().min(100).max(600_000).default(30_000),
    OTEL_BSP_MAX_QUEUE_SIZE: z.coerce.number().int().min(1).max(100_000).default(2_048),
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(512),
    /** Span limits, with the specification's defaults (128 each; a value's length unlimited); the span ones win. */
    OTEL_ATTRIBUTE_COUNT_LIMIT: countLimit.optional(),
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: valueLengthLimit.optional(),
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: countLimit.optional(),
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: valueLengthLimit.optional(),
    OTEL_SPAN_EVENT_COUNT_LIMIT: countLimit.default(128),
    /** Unset: 128, or the largest compensation group when that is more (see tracingConfig). */
    OTEL_SPAN_LINK_COUNT_LIMIT: countLimit.optional(),
    OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: countLimit.default(128),
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: countLimit.default(128),
    /** The JavaScript SDK's names for the last two: refused, so that only one name is read. */
    OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT: renamed('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT'),
    OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT: renamed('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT'),
    /** An outbox event handed to BullMQ this long ago and still not done is re-driven. */
    OUTBOX_STALE_AFTER_MS: z.coerce.number().int().min(1_000).max(86_400_000).default(60_000),
    /** Days a completed outbox event is kept after its completion, then deleted by the hourly retention job; 0: kept forever. */
    OUTBOX_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(7),
    /** Days a delivered (SUCCEEDED) webhook delivery, its attempts and its event are kept; 0: kept forever. */
    WEBHOOK_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
    /** Webhooks (docs/webhooks.md): receivers over plain http, and at private/loopback/link-local addresses (tests, development). */
    WEBHOOK_ALLOW_HTTP: z.enum(['true', 'false']).default('false'),
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: z.enum(['true', 'false']).default('false'),
    /**
     * Ports a webhook URL may name besides its scheme's own (443 for https, 80 for http), comma-separated; none by
     * default. Another port of a public address may be an internal service's (a server-side request forgery surface).
     * With WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true any port is allowed.
     */
    WEBHOOK_ALLOWED_PORTS: z.preprocess(
      (value) =>
        typeof value === 'string'
          ? value
              .split(',')
              .map((port) => port.trim())
              .filter(Boolean)
          : [],
      z.array(
        z
          .string()
          .regex(/^\d{1,5}$/, 'a port is a whole number from 1 to 65535')
          .transform(Number)
          .pipe(z.number().min(1, 'a port is a whole number from 1 to 65535').max(65_535, 'a port is a whole number from 1 to 65535')),
      ),
    ),
    /** One delivery request, connecting and the whole answer. */
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    /** Deliveries the worker process sends at once, and at most this many to one endpoint. */
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(512).default(32),
    WEBHOOK_ENDPOINT_CONCURRENCY: z.coerce.number().int().min(1).max(512).default(8),
    /** Attempts before a delivery is dead-lettered; the first retry's delay (×3 each time, up to 10 h). */
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(30).default(11),
    WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).max(3_600_000).default(5_000),
    /** An endpoint failing without a success this long is disabled. */
    WEBHOOK_DISABLE_AFTER: durationSeconds('24h'),
    GRAPHQL_INTROSPECTION: z.enum(['true', 'false']).optional(),
    GRAPHIQL: z.enum(['true', 'false']).optional(),
    /** Opening a database connection or waiting for a free one in the pool. */
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
    /** One statement, or a pause inside a transaction; also how long a hung database is waited for. */
    DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    /** How long /readyz waits for each dependency before calling it unavailable. */
    READINESS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(1_000),
    /** Largest request body accepted, in bytes; larger ones get 413 before they are read. */
    MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1_024)
      .max(64 * 1024 * 1024)
      .default(64 * 1024),
    /** Browser origins allowed to call the API (comma-separated, `*` for any); none by default: no CORS headers. */
    CORS_ORIGINS: z.preprocess(
      (value) =>
        typeof value === 'string'
          ? value
              .split(',')
              .map((origin) => origin.trim())
              .filter(Boolean)
          : [],
      z.array(z.union([z.literal('*'), z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'an origin is scheme://host[:port], without a path')])),
    ),
    /** Whether allowed origins may send credentials (cookies, HTTP auth); bearer tokens need no credentials. */
    CORS_CREDENTIALS: z.enum(['true', 'false']).default('false'),
    /**
     * How many reverse proxies in front of the API to trust for X-Forwarded-For: 0 (default)
     * takes the client address from the socket and ignores the header (anyone can send it).
     */
    TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
    /** Rate limits: the window, and per window the budget of each kind of caller (0 = no limit). */
    RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    RATE_LIMIT_API_KEY_MUTATIONS: rateLimit(6_000),
    RATE_LIMIT_API_KEY_VOUCHER_LOOKUPS: rateLimit(3_000),
    RATE_LIMIT_MEMBER_MUTATIONS: rateLimit(60),
    RATE_LIMIT_MEMBER_VOUCHER_LOOKUPS: rateLimit(30),
    RATE_LIMIT_ADDRESS_MUTATIONS: rateLimit(600),
    RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS: rateLimit(60),
    /** Requests per window and client address whose credentials do not verify, answered 401; beyond it 429. */
    RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS: rateLimit(30),
    /**
     * The agent console's OpenID Connect sign-in (authorization code + PKCE): the identity provider's issuer
     * (default JWT_ISSUER, the provider whose JWKS the API trusts) and the console's public client id. Without
     * a client id, production offers no sign-in; outside production the development sign-in is used.
     */
    CONSOLE_OIDC_ISSUER: optionalUrl,
    CONSOLE_OIDC_CLIENT_ID: optionalString,
    /** Scopes the console asks the identity provider for. */
    CONSOLE_OIDC_SCOPE: z.string().default('openid profile'),
    /**
     * Live streams (memberStatusChanged, approvalQueueChanged): open streams of each kind per caller, across all API
     * processes (counted in Redis; per process while Redis is away).
     */
    LIVE_MAX_STREAMS_PER_CALLER: z.coerce.number().int().min(1).max(1_000).default(5),
    /**
     * How long an open stream's place lasts in Redis unless its API process renews it (every third of it): the places
     * of a process that died without ending its streams are free after this.
     */
    LIVE_STREAM_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
    /** How often an open stream checks its caller's credentials again (besides on revocations and status changes). */
    LIVE_AUTH_RECHECK_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
    /**
     * Response cache (docs/caching.md): the member app's status queries, per member, in Redis, shared by
     * every API process and made stale by each committed change of the member. `false` turns it off.
     */
    RESPONSE_CACHE: z.enum(['true', 'false']).default('true'),
    /** How long a cached answer may be served at most (time-dependent figures such as "expires in" move on). */
    RESPONSE_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
    /**
     * Trusted documents (docs/caching.md): `members` lets member tokens send only the member app's known
     * documents (by id or as their exact text); staff and API keys may still send any query. `off`: anyone may.
     */
    TRUSTED_DOCUMENTS: z.enum(['off', 'members']).default('off'),
    /**
     * Compiled execution (src/graphql/compiled-execution.ts): authenticated callers' queries and mutations run as
     * functions compiled once per operation (graphql-jit). `false` interprets every operation with graphql-js.
     */
    GRAPHQL_COMPILED: z.enum(['true', 'false']).default('true'),
    /**
     * Direct execution (src/graphql/direct-execution.ts): operations with credentials run through the handler's
     * envelop without yoga's HTTP layer, answered as yoga answers. `false` sends every request through yoga.
     */
    GRAPHQL_DIRECT: z.enum(['true', 'false']).default('true'),
  })
  .superRefine((env, context) => {
    if (env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE > env.OTEL_BSP_MAX_QUEUE_SIZE) {
      const message = `at most OTEL_BSP_MAX_QUEUE_SIZE (${env.OTEL_BSP_MAX_QUEUE_SIZE})`;
      context.addIssue({ code: 'custom', message, path: ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'] });
    }
  })
  .refine((env) => !(env.CORS_CREDENTIALS === 'true' && env.CORS_ORIGINS.includes('*')), {
    message: 'CORS_CREDENTIALS=true needs a list of origins, not *',
    path: ['CORS_CREDENTIALS'],
  })
  .refine((env) => !(env.REDIS_URL && isClusterUrl(env.REDIS_URL) && env.QUEUE_PREFIX && !/^[^{]*\{[^{}]+\}/.test(env.QUEUE_PREFIX)), {
    message: 'on a Redis Cluster the prefix must start with a hash tag, such as {treue}',
    path: ['QUEUE_PREFIX'],
  })
  .refine((env) => !(env.JWT_SECRET && env.JWKS_URL), {
    message: 'set JWT_SECRET or JWKS_URL, not both',
    path: ['JWKS_URL'],
  })
  // An identity provider's keys sign tokens for many services: without iss and aud
  // checks a token it issued for another application would be accepted here.
  .refine((env) => !(env.NODE_ENV === 'production' && env.JWKS_URL && !env.JWT_ISSUER), {
    message: 'required in production with JWKS_URL',
    path: ['JWT_ISSUER'],
  })
  .refine((env) => !(env.NODE_ENV === 'production' && env.JWKS_URL && !env.JWT_AUDIENCE), {
    message: 'required in production with JWKS_URL',
    path: ['JWT_AUDIENCE'],
  })
  .refine((env) => !(env.CONSOLE_OIDC_CLIENT_ID && !env.CONSOLE_OIDC_ISSUER && !env.JWT_ISSUER), {
    message: 'needs CONSOLE_OIDC_ISSUER or JWT_ISSUER',
    path: ['CONSOLE_OIDC_CLIENT_ID'],
  })
  .refine((env) => env.JWT_SECRET === undefined || env.JWT_SECRET.length >= SECRET_MIN_LENGTH, {
    message: `JWT_SECRET must be at least ${SECRET_MIN_LENGTH} characters`,
    path: ['JWT_SECRET'],
  })
  .refine((env) => env.METRICS_TOKEN === undefined || env.METRICS_TOKEN.length >= SECRET_MIN_LENGTH, {
    message: `METRICS_TOKEN must be at least ${SECRET_MIN_LENGTH} characters`,
    path: ['METRICS_TOKEN'],
  })
  .refine((env) => env.ADMIN_SESSION_SECRET === undefined || env.ADMIN_SESSION_SECRET.length >= SECRET_MIN_LENGTH, {
    message: `ADMIN_SESSION_SECRET must be at least ${SECRET_MIN_LENGTH} characters`,
    path: ['ADMIN_SESSION_SECRET'],
  })
  .refine((env) => !(env.NODE_ENV === 'production' && hasTooLittleVariety(env.JWT_SECRET)), {
    message: `JWT_SECRET must contain at least ${SECRET_MIN_DISTINCT_CHARACTERS} different characters in production (e.g. openssl rand -base64 48)`,
    path: ['JWT_SECRET'],
  })
  .refine((env) => !(env.NODE_ENV === 'production' && hasTooLittleVariety(env.ADMIN_SESSION_SECRET)), {
    message: `ADMIN_SESSION_SECRET must contain at least ${SECRET_MIN_DISTINCT_CHARACTERS} different characters in production (e.g. openssl rand -base64 48)`,
    path: ['ADMIN_SESSION_SECRET'],
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  /**
   * Whether NODE_ENV was set (not blank). Unset, the service runs as development, as `npm start` on a fresh clone
   * does; what only a developer should get (the console's development sign-in with a configured JWT_SECRET) then
   * waits for NODE_ENV=development said explicitly (src/http/console.ts), and the start warns (src/main.ts).
   */
  environmentSet: boolean;
  port: number;
  host: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  queuePrefix: string;
  jwt: {
    secret: string | undefined;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    /** Longest accepted token lifetime in seconds, staff and member tokens apart. */
    maxLifetimeSeconds: { staff: number; member: number };
    /** `secret` is the one `withDevelopmentJwtSecret` generated for this data directory, not a configured JWT_SECRET. */
    developmentSecret?: true;
  };
  /** Signs the queue dashboard's session cookie: ADMIN_SESSION_SECRET, else JWT_SECRET; none: header access only. */
  adminSessionSecret: string | undefined;
  /** What a scrape of /metrics must send as its bearer token; undefined: /metrics answers anyone. */
  metricsToken: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  role: Env['TREUE_ROLE'];
  dataDir: string;
  embeddedPostgresPort: number;
  embeddedRedisPort: number;
  databasePoolSize: number;
  webConcurrency: number | undefined;
  workers: {
    concurrency: number;
    lockDurationMs: number;
    outboxStaleAfterMs: number;
    metricsPort: number | undefined;
    /** Compensation jobs run at once per worker process. */
    compensationConcurrency: number;
    /** Compensation jobs decided together at most; 1: each alone. */
    compensationGroupSize: number;
  };
  /** Days completed outbox events and delivered webhook deliveries are kept (the retention job); 0: forever. */
  retention: { outboxDays: number; webhookDays: number };
  /** OpenTelemetry traces, exported over OTLP/HTTP; undefined: tracing off (no SDK is loaded). */
  tracing: TracingConfig | undefined;
  webhooks: WebhookConfig;
  introspection: boolean;
  graphiql: boolean;
  maxBodyBytes: number;
  databaseTimeouts: { connectMs: number; statementMs: number };
  readinessTimeoutMs: number;
  cors: { origins: string[]; credentials: boolean };
  /** Reverse proxies trusted for X-Forwarded-For (0: the socket's address). */
  trustProxy: number;
  rateLimits: RateLimits;
  /** Live streams: per-caller limit across the API processes, the lease of a stream's place, credential re-check interval. */
  live: { maxStreamsPerCaller: number; streamLeaseMs: number; authRecheckMs: number };
  /** The agent console's sign-in: OpenID Connect when a client id is set (docs/console.md). */
  console: { oidc: { issuer: string; clientId: string; scope: string } | undefined };
  /** The members' response cache (needs Redis) and how long an answer may be served. */
  responseCache: { enabled: boolean; ttlSeconds: number };
  /** Whether member tokens may send only trusted documents. */
  trustedDocuments: Env['TRUSTED_DOCUMENTS'];
  /** Whether authenticated callers' operations run compiled. */
  compiledExecution: boolean;
  directExecution: boolean;
}

/** Webhook delivery settings (WEBHOOK_*). */
export interface WebhookConfig {
  allowHttp: boolean;
  allowPrivateAddresses: boolean;
  /** Ports besides the scheme's own that receivers may use (WEBHOOK_ALLOWED_PORTS). */
  allowedPorts: number[];
  timeoutMs: number;
  concurrency: number;
  endpointConcurrency: number;
  maxAttempts: number;
  retryBaseMs: number;
  disableAfterMs: number;
}

/** Per caller kind, the points per window for mutations and for voucher-code lookups; 0 = unlimited. */
export interface RateLimits {
  windowSeconds: number;
  apiKey: RateBudget;
  member: RateBudget;
  address: RateBudget;
  /**
   * Per client address, the requests whose credentials do not verify (an unknown API key, a forged or malformed
   * token; not an expired one) answered 401; further ones get 429. 0 = unlimited.
   */
  failedAuthentications: number;
}
export interface RateBudget {
  mutations: number;
  voucherLookups: number;
}

export interface TracingConfig {
  /** The OTLP/HTTP traces URL. */
  url: string;
  /** The bodies posted to it: protobuf or JSON (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL). */
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Whether the bodies are gzipped (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION). */
  compression: OtlpCompression;
  /**
   * TLS of an https:// URL, PEM text read at startup: the CAs trusted instead of the system's (`ca`) and the client
   * certificate with its key (`cert`, `key`, together or not at all); undefined: Node's defaults.
   */
  tls: { ca: string | undefined; cert: string | undefined; key: string | undefined };
  serviceName: string;
  /** The resource's attributes (OTEL_RESOURCE_ATTRIBUTES), `service.name` among them. */
  resourceAttributes: Record<string, string>;
  /** What is read from callers and carried onwards (OTEL_PROPAGATORS); empty: nothing (`none`). */
  propagators: Propagator[];
  /** Which traces are recorded (OTEL_TRACES_SAMPLER). */
  sampler: TracesSampler;
  /** Share of traces the ratio samplers record, 0 to 1 (OTEL_TRACES_SAMPLER_ARG; ignored by the others). */
  sampleRatio: number;
  /** The batch span processor (OTEL_BSP_*). */
  batch: { scheduledDelayMillis: number; exportTimeoutMillis: number; maxQueueSize: number; maxExportBatchSize: number };
  /** What a span keeps at most (OTEL_SPAN_*_LIMIT, OTEL_ATTRIBUTE_*_LIMIT, …); a value's length: undefined, no limit. */
  spanLimits: {
    attributeCountLimit: number;
    attributeValueLengthLimit: number | undefined;
    eventCountLimit: number;
    linkCountLimit: number;
    attributePerEventCountLimit: number;
    attributePerLinkCountLimit: number;
  };
}

/** Compensation jobs decided in one transaction at most: WORKER_COMPENSATION_GROUP_SIZE, capped by the concurrency. */
function compensationGroupSizeOf(env: Env): number {
  return Math.min(env.WORKER_COMPENSATION_GROUP_SIZE ?? env.WORKER_COMPENSATION_CONCURRENCY, env.WORKER_COMPENSATION_CONCURRENCY);
}

function tracingConfig(env: Env): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? OTLP_PROTOCOL_DEFAULT;
  if (protocol === 'grpc') {
    const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    throw new ConfigError(
      `Invalid configuration: ${variable}: grpc is not supported, spans are sent over OTLP/HTTP; accepted: ${OTLP_PROTOCOLS_SENT.join(', ')}`,
    );
  }
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) {
    if (env.OTEL_TRACES_EXPORTER === 'otlp') {
      throw new ConfigError(
        'Invalid configuration: OTEL_TRACES_EXPORTER: otlp needs OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      );
    }
    return undefined;
  }
  const serviceName = env.OTEL_SERVICE_NAME ?? (env.OTEL_RESOURCE_ATTRIBUTES['service.name'] || 'treue');
  return {
    url,
    protocol,
    headers: { ...env.OTEL_EXPORTER_OTLP_HEADERS, ...env.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    timeoutMs: env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT,
    compression: env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ?? env.OTEL_EXPORTER_OTLP_COMPRESSION ?? 'none',
    tls: exportTls(env, url),
    serviceName,
    resourceAttributes: { ...env.OTEL_RESOURCE_ATTRIBUTES, 'service.name': serviceName },
    propagators: env.OTEL_PROPAGATORS ?? ['tracecontext'],
    // The specification's default, parentbased_always_on, is parentbased_traceidratio at 1; a ratio given without a
    // sampler keeps meaning parentbased_traceidratio, as it did before the service read OTEL_TRACES_SAMPLER.
    sampler: env.OTEL_TRACES_SAMPLER ?? (env.OTEL_TRACES_SAMPLER_ARG === undefined ? 'parentbased_always_on' : 'parentbased_traceidratio'),
    sampleRatio: env.OTEL_TRACES_SAMPLER_ARG ?? 1,
    batch: {
      scheduledDelayMillis: env.OTEL_BSP_SCHEDULE_DELAY,
      exportTimeoutMillis: env.OTEL_BSP_EXPORT_TIMEOUT,
      maxQueueSize: env.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    },
    spanLimits: {
      attributeCountLimit: env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT ?? env.OTEL_ATTRIBUTE_COUNT_LIMIT ?? 128,
      attributeValueLengthLimit: env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT ?? env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
      eventCountLimit: env.OTEL_SPAN_EVENT_COUNT_LIMIT,
      // A compensation group's span links every job's trace it decides: unset, the limit keeps them all.
      linkCountLimit: env.OTEL_SPAN_LINK_COUNT_LIMIT ?? Math.max(128, compensationGroupSizeOf(env)),
      attributePerEventCountLimit: env.OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT,
      attributePerLinkCountLimit: env.OTEL_LINK_ATTRIBUTE_COUNT_LIMIT,
    },
  };
}

/**
 * The export's TLS files, each the traces variable's else the general one's (their PEM text was read and parsed by
 * the schema). Refused: any of them with a plain http:// URL (Node would ignore them there), a client key without
 * its certificate or the other way round, and a key that is not the certificate's — each a connection that would
 * fail, or go unverified, batch after batch, with nothing but a warning in the log.
 */
function exportTls(env: Env, url: string): TracingConfig['tls'] {
  const pick = (name: 'CERTIFICATE' | 'CLIENT_CERTIFICATE' | 'CLIENT_KEY') => {
    const traces = `OTEL_EXPORTER_OTLP_TRACES_${name}` as const;
    const general = `OTEL_EXPORTER_OTLP_${name}` as const;
    if (env[traces] !== undefined) return { variable: traces, pem: env[traces] };
    if (env[general] !== undefined) return { variable: general, pem: env[general] };
    return { variable: `${general} or ${traces}`, pem: undefined };
  };
  const ca = pick('CERTIFICATE');
  const cert = pick('CLIENT_CERTIFICATE');
  const key = pick('CLIENT_KEY');
  const refuse = (variable: string, problem: string) => new ConfigError(`Invalid configuration: ${variable}: ${problem}`);
  const set = [ca, cert, key].filter((file) => file.pem !== undefined);
  const { protocol, host, pathname } = new URL(url);
  if (set[0] && protocol !== 'https:')
    throw refuse(set[0].variable, `needs an https:// endpoint; the traces are sent to ${protocol}//${host}${pathname}`);
  if (key.pem !== undefined && cert.pem === undefined) throw refuse(key.variable, `needs ${cert.variable}`);
  if (cert.pem !== undefined && key.pem === undefined) throw refuse(cert.variable, `needs ${key.variable}`);
  if (cert.pem !== undefined && key.pem !== undefined) {
    try {
      createSecureContext({ cert: cert.pem, key: key.pem });
    } catch (error) {
      const mismatch = /key values mismatch/i.test((error as Error).message);
      throw mismatch
        ? refuse(key.variable, `the key does not belong to the certificate of ${cert.variable}`)
        : refuse(cert.variable, `not usable with ${key.variable} (${(error as Error).message})`);
    }
  }
  return { ca: ca.pem, cert: cert.pem, key: key.pem };
}

export class ConfigError extends Error {}

/** Parses and validates the environment; throws a `ConfigError` naming every bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(withoutBlankValues(source));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  return {
    env: env.NODE_ENV,
    isProduction,
    environmentSet: (source.NODE_ENV ?? '').trim() !== '',
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX ?? (env.REDIS_URL && isClusterUrl(env.REDIS_URL) ? '{treue}' : 'treue'),
    jwt: {
      secret: env.JWT_SECRET,
      jwksUrl: env.JWKS_URL,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      maxLifetimeSeconds: { staff: env.JWT_MAX_LIFETIME_STAFF, member: env.JWT_MAX_LIFETIME_MEMBER },
    },
    adminSessionSecret: env.ADMIN_SESSION_SECRET ?? env.JWT_SECRET,
    metricsToken: env.METRICS_TOKEN,
    logLevel: env.LOG_LEVEL,
    role: env.TREUE_ROLE,
    dataDir: env.DATA_DIR,
    embeddedPostgresPort: env.EMBEDDED_POSTGRES_PORT,
    embeddedRedisPort: env.EMBEDDED_REDIS_PORT,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    webConcurrency: env.WEB_CONCURRENCY,
    workers: {
      concurrency: env.WORKER_CONCURRENCY,
      lockDurationMs: env.WORKER_LOCK_DURATION_MS,
      outboxStaleAfterMs: env.OUTBOX_STALE_AFTER_MS,
      metricsPort: env.WORKER_METRICS_PORT,
      compensationConcurrency: env.WORKER_COMPENSATION_CONCURRENCY,
      compensationGroupSize: compensationGroupSizeOf(env),
    },
    retention: { outboxDays: env.OUTBOX_RETENTION_DAYS, webhookDays: env.WEBHOOK_RETENTION_DAYS },
    tracing: tracingConfig(env),
    webhooks: {
      allowHttp: env.WEBHOOK_ALLOW_HTTP === 'true',
      allowPrivateAddresses: env.WEBHOOK_ALLOW_PRIVATE_ADDRESSES === 'true',
      allowedPorts: [...new Set(env.WEBHOOK_ALLOWED_PORTS)],
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      concurrency: env.WEBHOOK_CONCURRENCY,
      endpointConcurrency: env.WEBHOOK_ENDPOINT_CONCURRENCY,
      maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
      retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
      disableAfterMs: env.WEBHOOK_DISABLE_AFTER * 1000,
    },
    introspection: env.GRAPHQL_INTROSPECTION ? env.GRAPHQL_INTROSPECTION === 'true' : !isProduction,
    graphiql: env.GRAPHIQL ? env.GRAPHIQL === 'true' : !isProduction,
    maxBodyBytes: env.MAX_BODY_BYTES,
    databaseTimeouts: { connectMs: env.DATABASE_CONNECT_TIMEOUT_MS, statementMs: env.DATABASE_STATEMENT_TIMEOUT_MS },
    readinessTimeoutMs: env.READINESS_TIMEOUT_MS,
    cors: { origins: env.CORS_ORIGINS, credentials: env.CORS_CREDENTIALS === 'true' },
    trustProxy: env.TRUST_PROXY,
    rateLimits: {
      windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      apiKey: { mutations: env.RATE_LIMIT_API_KEY_MUTATIONS, voucherLookups: env.RATE_LIMIT_API_KEY_VOUCHER_LOOKUPS },
      member: { mutations: env.RATE_LIMIT_MEMBER_MUTATIONS, voucherLookups: env.RATE_LIMIT_MEMBER_VOUCHER_LOOKUPS },
      address: { mutations: env.RATE_LIMIT_ADDRESS_MUTATIONS, voucherLookups: env.RATE_LIMIT_ADDRESS_VOUCHER_LOOKUPS },
      failedAuthentications: env.RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS,
    },
    live: {
      maxStreamsPerCaller: env.LIVE_MAX_STREAMS_PER_CALLER,
      streamLeaseMs: env.LIVE_STREAM_LEASE_MS,
      authRecheckMs: env.LIVE_AUTH_RECHECK_MS,
    },
    responseCache: { enabled: env.RESPONSE_CACHE === 'true', ttlSeconds: env.RESPONSE_CACHE_TTL_SECONDS },
    trustedDocuments: env.TRUSTED_DOCUMENTS,
    compiledExecution: env.GRAPHQL_COMPILED === 'true',
    directExecution: env.GRAPHQL_DIRECT === 'true',
    console: {
      oidc:
        env.CONSOLE_OIDC_CLIENT_ID && (env.CONSOLE_OIDC_ISSUER ?? env.JWT_ISSUER)
          ? { issuer: (env.CONSOLE_OIDC_ISSUER ?? env.JWT_ISSUER)!, clientId: env.CONSOLE_OIDC_CLIENT_ID, scope: env.CONSOLE_OIDC_SCOPE }
          : undefined,
    },
  };
}
