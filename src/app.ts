import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { createAuthenticator, credentialsExpireAt, type Authenticator } from './auth/authenticate.js';
import { createCredentialSync } from './auth/credential-sync.js';
import { createApprovalQueueBus } from './live/approval-queue-bus.js';
import { createMemberChangeBus } from './live/member-change-bus.js';
import { createLiveStatus, type LiveStatus } from './live/member-status-stream.js';
import { createStreamPlaces } from './live/stream-places.js';
import { attached } from './attached.js';
import { AuthenticationError } from './auth/jwt.js';
import type { Principal } from './auth/principal.js';
import { invalidatingChanges } from './cache/invalidating-changes.js';
import { createResponseCacheStore } from './cache/response-cache-store.js';
import type { Config } from './config/env.js';
import type { PrismaClient } from './db/prisma.js';
import type { MemberChangeEvents, OutboxPublisher } from './domain/deps.js';
import { RateLimitedError } from './domain/errors.js';
import type { GraphQLContext } from './graphql/context.js';
import { limitBodySize } from './http/body-limit.js';
import { refuseFormBodies } from './http/form-bodies.js';
import {
  clientAddress,
  countsAsFailedAuthentication,
  createRateLimiter,
  rateLimitedGraphQLError,
  useRateLimits,
} from './http/rate-limit.js';
import { compiledExecution } from './graphql/compiled-execution.js';
import { checkListCursors } from './graphql/cursors.js';
import { refuseNulCharacters } from './graphql/nul-characters.js';
import { endUnreadStreams } from './graphql/unread-streams.js';
import { createErrorMasker, hideSchemaSuggestions, requestIdOnErrors } from './graphql/error-masking.js';
import { countOperations } from './graphql/operation-metrics.js';
import { releaseScopeCache } from './graphql/scope-cache-release.js';
import { createDirectExecution } from './graphql/direct-execution.js';
import { COST_LIMIT, weighVariablePageSizes } from './graphql/page-size-cost.js';
import { createResponseCache } from './graphql/response-cache.js';
import { getSchema } from './graphql/schema.js';
import { mayRunText, requestedDocumentId, trustedDocuments } from './graphql/trusted-documents.js';
import { createConsoleHandler } from './http/console.js';
import { createQueueBoard, QUEUE_BOARD_PATH } from './http/queue-board.js';
import { corsPolicy, variesByOrigin, varyByOrigin } from './http/cors.js';
import { metricsAccess, OPEN_METRICS_WARNING } from './http/metrics-access.js';
import { createReadinessProbe } from './http/readiness.js';
import type { Logger } from './logger.js';
import {
  createMetrics,
  LIVE_STREAM_LABELS,
  RATE_SUBJECT_LABELS,
  trackDatabasePool,
  trackOutboxLag,
  trackWebhookEndpoints,
  type Metrics,
} from './metrics.js';
import { createOutboxPublisher } from './queues/outbox-queues.js';
import { connectRedis } from './redis/redis-client.js';
import { startTracing } from './telemetry/tracing.js';
import type { Registry } from 'prom-client';

export interface AppDeps {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redisUrl: string;
  /**
   * In one of several node:cluster API processes, which share one port (src/cluster.ts): /metrics
   * answers with every API process's metrics as the primary sums them, so that a scrape of the port
   * sees the same counters whichever process takes it. Absent: this process's own.
   */
  processMetrics?: SharedMetrics;
}

/** This process's metrics, shared with the cluster primary, and the sum over every API process. */
export interface SharedMetrics {
  share(registry: Registry): void;
  all(): Promise<string>;
}

/**
 * What the GraphQL handler needs; `outbox` is the immediate enqueue after commit (none: the relay enqueues).
 * `redisUrl`: credential cache invalidation across API processes (and rate limits) go
 * through it; without it (some tests) they stay within this handler.
 */
export type GraphQLHandlerDeps = Omit<AppDeps, 'redisUrl'> & {
  outbox?: OutboxPublisher;
  redisUrl?: string;
  /** The OpenTelemetry plugin when tracing is on (src/telemetry/tracing.ts): one span per operation. */
  tracing?: Plugin;
  /** The services' clock (`ServiceDeps.now`; tests move it); absent: the system's. */
  now?: () => Date;
};

export type GraphQLHandler = YogaServerInstance<ServerContext, GraphQLContext> & {
  /** Resolves once this handler hears other processes' credential events (revocations). */
  credentialEventsReady: Promise<void>;
  /** Resolves once this handler hears member changes made by other processes (live member status). */
  memberChangesReady: Promise<void>;
  /** Resolves once this handler hears approval queue changes made by other processes. */
  approvalQueueReady: Promise<void>;
  /** Resolves once this handler counts open streams per caller with the other API processes (src/live/stream-places.ts). */
  streamPlacesReady: Promise<void>;
  /** This handler's live member status streams. */
  live: LiveStatus;
  /**
   * Completes every live stream (member status, approval queue), and at once any opened after: the process stops,
   * clients reconnect to another one.
   */
  endLiveStreams(): void;
  /** Where services called outside a request (tests, the CLI in process) report member changes for these streams. */
  memberChanges: MemberChangeEvents;
  /** This handler's authenticator, for the other admin paths (the queue board): one set of credential caches. */
  authenticate: Authenticator;
  /**
   * Spends a failed authentication from the client address's budget (the one /graphql spends): the RateLimitedError
   * to answer with 429, or null to answer 401. For the other admin paths (the queue board).
   */
  failedAuthentication(error: AuthenticationError | RateLimitedError, address: string): Promise<RateLimitedError | null>;
  /**
   * Answers a member's repeated read on /graphql from the response cache before yoga; false leaves the request
   * to `handle` (src/graphql/response-cache.ts, `answer`).
   */
  answerFromCache(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Runs an operation with credentials through the handler's envelop without yoga's HTTP layer; false leaves the
   * request to `handle` (src/graphql/direct-execution.ts).
   */
  answerDirectly(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
};

type ServerContext = { req?: IncomingMessage; res?: ServerResponse };

/** Turns off introspection (production default) with graphql's own validation rule. */
/** Where yoga answers GraphQL. */
const GRAPHQL_ENDPOINT = '/graphql';
/**
 * The paths the response cache's shortcut and the direct execution answer: yoga's endpoint, with or without its
 * trailing slash. Any other path is yoga's to answer (a 404 unless yoga takes it for its endpoint), so that a proxy's
 * rules by path hold for GraphQL.
 */
const FAST_PATHS: ReadonlySet<string> = new Set([GRAPHQL_ENDPOINT, `${GRAPHQL_ENDPOINT}/`]);

const disableIntrospection = (): Plugin => ({
  onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule),
});

/**
 * Credentials were sent but do not verify (malformed, forged, expired, revoked):
 * the whole request is refused with HTTP 401 and `WWW-Authenticate` (RFC 6750),
 * before any resolver runs. A request without credentials is not refused here:
 * it is anonymous, and each field answers it (typed `UnauthenticatedError` or null).
 */
function invalidCredentials(error: AuthenticationError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      // yoga takes status and headers from here and leaves `http` out of the body.
      http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } },
    },
  });
}

/** What a caller's (or its proxy's) request id may look like to be kept: a UUID, a proxy's id, a trace id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id every log line of the request carries: the caller's `X-Request-Id` when it looks like one, else one
 * of ours. Anything else a caller sends there (8 KB of text, an e-mail, a fragment of JSON) would be
 * written into each of those lines. (A caller may still send another request's id: ids from outside are a convenience,
 * not evidence.)
 */
function requestIdOf(sent: string | null): string {
  return sent !== null && REQUEST_ID.test(sent) ? sent : randomUUID();
}

/**
 * After a 413 the rest of the body is not read (it may never end): the
 * connection closes at once instead of idling until the keep-alive timeout.
 */
function closeAfterTooLarge(): Plugin {
  return {
    onResponse: ({ response }) => {
      if (response.status === 413) response.headers.set('connection', 'close');
    },
  };
}

/**
 * `Cache-Control: no-store` on every answer that does not say otherwise: only the member app's cacheable answers do
 * (`private, no-cache` with an ETag, docs/caching.md). The agent console's queries go out as GET (urql's default for
 * a short URL) with the staff token in a header, and a browser may keep a GET's answer on disk, where the next person
 * at a shared desk would find the member's name, e-mail and balance after sign-out. The same header on an answer
 * written without yoga: src/graphql/direct-execution.ts.
 */
function noStoreUnlessCacheable(): Plugin {
  return {
    onResponse: ({ response }) => {
      if (!response.headers.has('cache-control')) response.headers.set('cache-control', 'no-store');
    },
  };
}

/**
 * The GraphQL endpoint. Expected failures (DomainError) keep their message and
 * code; anything else is masked as "Unexpected error." and logged with the
 * request id, so internals never reach a client.
 */
export function createGraphQLHandler(deps: GraphQLHandlerDeps, metrics: Metrics = createMetrics()): GraphQLHandler {
  const { config, logger } = deps;
  // Commands only (publish; the subscriber is a duplicate): fail fast rather than queue while Redis is away.
  const redis = deps.redisUrl
    ? connectRedis(deps.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 500 })
    : undefined;
  redis?.on('error', (error) => logger.debug({ err: error }, 'redis (API) connection error'));
  void redis?.connect().catch(() => undefined);
  const credentials = createCredentialSync({
    prisma: deps.prisma,
    logger,
    redis: redis && { client: redis, prefix: config.queuePrefix },
  });
  // Member changes from every process reach this process's live streams (memberStatusChanged).
  const memberChanges = createMemberChangeBus({ logger, redis: redis && { client: redis, prefix: config.queuePrefix }, listen: true });
  // Committed changes make the members' cached answers stale whether or not this process serves from the cache,
  // so that turning the cache on in one process never meets answers another process kept from before a change.
  const cacheStore = redis
    ? createResponseCacheStore({ redis, prefix: config.queuePrefix, ttlSeconds: config.responseCache.ttlSeconds, logger })
    : undefined;
  const trusted = trustedDocuments();
  // Open streams per caller, counted across the API processes (their own count while Redis is away).
  const streamPlaces = createStreamPlaces({
    logger,
    redis: redis && { client: redis, prefix: config.queuePrefix },
    maxPerWatcher: config.live.maxStreamsPerCaller,
    leaseMs: config.live.streamLeaseMs,
    refused: (kind) => metrics.liveStreamRefusals.inc({ stream: LIVE_STREAM_LABELS[kind] }),
  });
  const live = createLiveStatus({ bus: memberChanges, logger, places: streamPlaces, limits: config.live });
  // Approval queue changes from every process reach this process's open queues (approvalQueueChanged).
  const approvalQueue = createApprovalQueueBus({
    logger,
    redis: redis && { client: redis, prefix: config.queuePrefix },
    listen: true,
    places: streamPlaces,
  });
  const endLiveStreams = () => {
    live.close();
    approvalQueue.endStreams();
  };
  credentials.onChange((event) => {
    if (event.kind === 'apiKeyRevoked') approvalQueue.credentialChanged(event.apiKeyId);
    live.credentialChanged(event.kind === 'apiKeyRevoked' ? event.apiKeyId : event.memberId);
  });
  const limiter = createRateLimiter({ limits: config.rateLimits, redis, prefix: config.queuePrefix });
  /**
   * Credentials that do not verify: 401, until the client address has sent more such requests within the window than
   * RATE_LIMIT_ADDRESS_FAILED_AUTHENTICATIONS allows; then 429 with Retry-After. Once the budget is used up, the
   * authenticator refuses API keys this process has not verified already without looking them up (a RateLimitedError,
   * src/auth/authenticate.ts); keys it verified before keep working, and JWTs are still verified. A token that merely
   * expired is not counted (src/http/rate-limit.ts, countsAsFailedAuthentication). One budget per address for /graphql
   * and the queue board (its header and its session cookie).
   * The refusal to answer (counted and logged), or null for the 401 the caller would have had.
   */
  const failedAuthentication = async (error: AuthenticationError | RateLimitedError, address: string): Promise<RateLimitedError | null> => {
    let refused: RateLimitedError | null = error instanceof RateLimitedError ? error : null;
    if (error instanceof AuthenticationError && countsAsFailedAuthentication(error.reason)) {
      // Redis and the in-memory insurance both failing is not the client's fault: the 401 it would have had.
      refused = await limiter.failedAuthentication(address).catch(() => null);
    }
    if (!refused) return null;
    metrics.rateLimitRefusals.inc({ subject: RATE_SUBJECT_LABELS.failedAuthentication });
    // Debug: anyone can provoke this, so it must not be able to fill the logs.
    logger.debug({ subject: 'failedAuthentication', retryAfterSeconds: refused.retryAfterSeconds }, 'rate limited');
    return refused;
  };
  const refusedCredentials = async (error: AuthenticationError | RateLimitedError, address: string): Promise<GraphQLError> => {
    const refused = await failedAuthentication(error, address);
    if (refused) return rateLimitedGraphQLError(refused);
    if (error instanceof AuthenticationError) return invalidCredentials(error);
    throw error;
  };
  const authenticate = createAuthenticator({
    prisma: deps.prisma,
    jwt: config.jwt,
    apiKeys: credentials.apiKeys,
    memberAccounts: credentials.memberAccounts,
    failedAuthenticationsSpent: (address) => limiter.failedAuthenticationsSpent(address),
    logger,
    jwksFetchFailed: (reason) => metrics.jwksFetchFailures.inc({ reason }),
  });
  // The node request yoga's fetch Request came from (its socket is the client's address), attached on arrival.
  const incomingOfRequest = attached<Request, IncomingMessage>('incoming');
  // One authentication per request, whichever asks first: the response cache's shortcut (by the node request), the
  // direct execution (by both), the trusted-documents check (before parsing) and the context (by the fetch Request).
  const principals = attached<Request | IncomingMessage, Promise<Principal>>('principal');
  const principalOf = (request: Request | undefined, incoming?: IncomingMessage): Promise<Principal> => {
    const principal =
      (request && principals.get(request)) ??
      (incoming && principals.get(incoming)) ??
      authenticate(request ? request.headers.get('authorization') : (incoming?.headers.authorization ?? null), () =>
        addressOf(request, incoming),
      );
    if (request) principals.set(request, principal);
    if (incoming) principals.set(incoming, principal);
    return principal;
  };
  const addressOf = (request: Request | undefined, incoming: IncomingMessage | undefined): string =>
    clientAddress(request, incoming ?? (request && incomingOfRequest.get(request)), config.trustProxy);
  // Requests whose query text is a trusted document (sent as text rather than by id).
  const trustedText = new WeakSet<Request>();
  const schema = getSchema();
  // Whether answers vary by Origin (CORS origins configured): the cache's shortcut and the direct execution write Vary as yoga does.
  const varyOrigin = variesByOrigin(config.cors);
  const responseCache = createResponseCache({
    store: cacheStore,
    serve: config.responseCache.enabled,
    trusted,
    metrics,
    schema,
    principalOf: (incoming) => principalOf(undefined, incoming),
    varyOrigin,
    maxBodyBytes: config.maxBodyBytes,
    shortcut: deps.tracing === undefined,
    // The clock `nowOf` reads from the context's deps (below).
    now: deps.now ?? (() => new Date()),
  });
  const errorMasker = createErrorMasker({ logger, hideSuggestions: !config.introspection });
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    graphiql: config.graphiql,
    landingPage: false,
    logging: false,
    cors: corsPolicy(config.cors),
    // limitBodySize below instead: the same checks without yoga's counting stream on every body.
    maxRequestBodySize: false,
    // No uploads: a multipart POST is refused with 415 (src/http/form-bodies.ts).
    multipart: false,
    context: async ({ request, req }): Promise<GraphQLContext> => {
      const requestId = requestIdOf(request.headers.get('x-request-id'));
      const requestLogger = logger.child({ requestId });
      const authorization = request.headers.get('authorization');
      let principal: GraphQLContext['principal'];
      try {
        principal = await principalOf(request);
      } catch (error) {
        if (error instanceof AuthenticationError || error instanceof RateLimitedError) {
          throw await refusedCredentials(error, clientAddress(request, req, config.trustProxy));
        }
        throw error;
      }
      const changes = invalidatingChanges(memberChanges.events, cacheStore, requestLogger);
      return {
        principal,
        requestId,
        logger: requestLogger,
        deps: {
          prisma: deps.prisma,
          logger: requestLogger,
          now: deps.now,
          outbox: deps.outbox,
          credentials: credentials.events,
          webhookUrls: config.webhooks,
          memberChanges: changes.events,
          approvalQueue: approvalQueue.events,
          measures: metrics.business,
        },
        memberChangesSettled: changes.settled,
        live,
        approvalQueue,
        signal: request.signal,
        liveRecheckMs: config.live.authRecheckMs,
        reauthenticate: () => authenticate(authorization),
        // Read by live streams only: an ordinary request does not decode its token a second time.
        credentialsExpireAt: () => credentialsExpireAt(authorization),
      };
    },
    maskedErrors: { maskError: errorMasker },
    plugins: [
      // Before every plugin that wraps execution (tracing's context, the response cache): it replaces the executor.
      compiledExecution({ enabled: config.compiledExecution, executed: (executor) => metrics.graphqlExecutions.inc({ executor }) }),
      // First after it: the operation's span is active while everything after it runs (statements, the outbox write).
      ...(deps.tracing ? [deps.tracing] : []),
      // Before anything reads a variable: a NUL would fail in the first statement it reached (INTERNAL).
      refuseNulCharacters(),
      {
        onParams: ({ params, request }) => {
          if (trusted.idOf(params.query) !== undefined) trustedText.add(request);
        },
      },
      usePersistedOperations<GraphQLContext>({
        getPersistedOperation: (id) => trusted.byId(id) ?? null,
        // The GraphQL-over-HTTP `documentId`, or Apollo's `extensions.persistedQuery.sha256Hash`.
        // (yoga's GET parser keeps only the standard parameters: a GET's documentId is read from its URL).
        extractPersistedOperationId: (params, request) =>
          requestedDocumentId({
            ...params,
            documentId:
              (params as { documentId?: unknown }).documentId ??
              (request.method === 'GET' ? new URL(request.url).searchParams.get('documentId') : undefined),
          }) ?? null,
        allowArbitraryOperations: async (request) => {
          const trustedOne = trustedText.has(request);
          // What a member may send anyone may: no need to know the caller then.
          if (mayRunText(config.trustedDocuments, 'member', trustedOne)) return true;
          // Credentials that do not verify are refused with 401 when the context is built.
          const principal = await principalOf(request).catch(() => undefined);
          return mayRunText(config.trustedDocuments, principal?.kind, trustedOne);
        },
        customErrors: {
          persistedQueryOnly: {
            message: 'Only trusted documents are accepted from member tokens: send the app document by its id.',
            extensions: { code: 'TRUSTED_DOCUMENTS_ONLY', http: { status: 400 } },
          },
          notFound: { message: 'Unknown document id.', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND', http: { status: 400 } } },
          keyNotFound: {
            message: 'Send a query or a document id.',
            extensions: { code: 'PERSISTED_QUERY_ID_REQUIRED', http: { status: 400 } },
          },
        },
      }),
      EnvelopArmorPlugin({
        // Depth and cost count fields, not fragments: a screen written with colocated fragments
        // (Relay/Apollo style) weighs what the same fields written inline weigh.
        maxDepth: { n: 12, flattenFragments: true },
        maxAliases: { n: 15 },
        costLimit: COST_LIMIT,
        maxTokens: { n: 2_000 },
        maxDirectives: { n: 20 },
        // hideSchemaSuggestions instead: armor's pattern misses enum values ("Did you mean the enum value …").
        blockFieldSuggestion: { enabled: false },
      }),
      // Page sizes sent as variables weigh what they weigh written in the document.
      weighVariablePageSizes(),
      ...(config.introspection ? [] : [disableIntrospection(), hideSchemaSuggestions()]),
      requestIdOnErrors(),
      checkListCursors(logger),
      varyByOrigin(config.cors),
      closeAfterTooLarge(),
      noStoreUnlessCacheable(),
      countOperations(metrics),
      {
        onRequest: ({ request, serverContext }) => {
          const { req } = serverContext as ServerContext;
          if (req) incomingOfRequest.set(request, req);
        },
      },
      useRateLimits({
        limiter,
        trustProxy: config.trustProxy,
        logger,
        refused: (subject) => metrics.rateLimitRefusals.inc({ subject: RATE_SUBJECT_LABELS[subject] }),
      }),
      // Before the body limit: a form body is refused unread, whatever its size.
      refuseFormBodies(),
      // Checked before parsing: a larger Content-Length is refused unread, a chunked body is counted as it arrives.
      limitBodySize(config.maxBodyBytes),
      // Last: a cached answer skips execution only after every other plugin had its say.
      responseCache.plugin,
      // After every plugin that may pick how a result is sent: a stream none will send is ended.
      endUnreadStreams(),
      // Last of the execution's hooks: its scope-auth cache ends with it (src/graphql/scope-cache-release.ts).
      releaseScopeCache(),
      {
        onDispose: async () => {
          endLiveStreams();
          streamPlaces.close();
          await memberChanges.close();
          await approvalQueue.close();
          await credentials.close();
          redis?.disconnect();
        },
      },
    ],
  });
  const direct = createDirectExecution({
    yoga,
    trusted,
    trustedDocuments: config.trustedDocuments,
    cacheHeaders: responseCache.headersFor,
    principalOf,
    varyOrigin,
    maxBodyBytes: config.maxBodyBytes,
    maskError: errorMasker,
    // Off while tracing: yoga's plugin opens each operation's span.
    enabled: config.directExecution && deps.tracing === undefined,
  });
  return Object.assign(yoga, {
    credentialEventsReady: credentials.ready,
    memberChangesReady: memberChanges.ready,
    approvalQueueReady: approvalQueue.ready,
    streamPlacesReady: streamPlaces.ready,
    live,
    endLiveStreams,
    memberChanges: invalidatingChanges(memberChanges.events, cacheStore, logger).events,
    authenticate,
    failedAuthentication,
    answerFromCache: responseCache.answer,
    answerDirectly: direct.answer,
  });
}

/**
 * How long `close()` waits for its connections to end before it destroys what is left (requests running since
 * before the drain or started during it on a kept-alive socket); an API process's stop timeout (src/cluster.ts) sits above it.
 */
export const API_DRAIN_TIMEOUT_MS = 8_000;
/**
 * During a drain, keep-alive sockets that stayed idle this long are closed (busy ones close after their next answer).
 * Long enough for a client on a loaded machine to send its next request on a socket it already holds.
 */
const DRAIN_IDLE_GRACE_MS = 2_000;

/** Starts the HTTP server: /graphql, /console, /admin/queues, /healthz, /readyz and /metrics. */
export interface Api {
  url: string;
  server: Server;
  /**
   * Closes the listening socket (nothing else): open connections stay served as usual. The cluster
   * primary calls it in every API process before any of them drains (src/cluster.ts).
   */
  stopAccepting(): void;
  /** Stops accepting, drains the open connections, then closes the API's clients. */
  close(): Promise<void>;
}

export async function startApi(deps: AppDeps): Promise<Api> {
  const { config, logger, prisma } = deps;
  const tracing = config.tracing && (await startTracing(config.tracing, { logger }));
  const metrics = createMetrics();
  trackWebhookEndpoints(metrics.registry, prisma);
  trackOutboxLag(metrics.registry, prisma);
  const stopTrackingPool = trackDatabasePool(metrics.registry, prisma);
  deps.processMetrics?.share(metrics.registry);
  // Jobs start right after commit; when Redis is down the worker's outbox relay catches up.
  const outbox = createOutboxPublisher({ redisUrl: deps.redisUrl, prefix: config.queuePrefix, logger });
  const yoga = createGraphQLHandler({ ...deps, outbox, tracing: tracing?.graphqlPlugin }, metrics);
  const redis = connectRedis(deps.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: config.readinessTimeoutMs,
    // A hung Redis (stopped, unreachable) answers nothing: give up on a command, not wait forever.
    commandTimeout: config.readinessTimeoutMs,
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis (readiness) connection error'));
  await redis.connect().catch(() => undefined);
  // Live streams hear other processes' changes, and count their places with them, from the first request on;
  // bounded, as Redis may be away.
  await Promise.race([
    Promise.all([yoga.memberChangesReady, yoga.approvalQueueReady, yoga.streamPlacesReady]),
    new Promise((resolve) => setTimeout(resolve, config.readinessTimeoutMs).unref()),
  ]);

  const ready = createReadinessProbe(
    { database: () => prisma.$queryRaw`SELECT 1`, redis: () => redis.ping() },
    config.readinessTimeoutMs,
    logger,
  );

  const mayScrape = metricsAccess(config.metricsToken);
  if (config.isProduction && config.metricsToken === undefined) logger.warn(OPEN_METRICS_WARNING);
  const agentConsole = createConsoleHandler({ config, logger });
  const queueBoard = createQueueBoard({
    config,
    logger,
    prisma,
    redisUrl: deps.redisUrl,
    authenticate: yoga.authenticate,
    failedAuthentication: yoga.failedAuthentication,
  });

  // Responses not yet finished: on close they get `Connection: close`, and close waits for them.
  const running = new Set<ServerResponse>();
  let draining = false;
  let sweptIdle = false;

  const server = createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    running.add(res);
    // A request that arrives on a kept-alive socket during the drain is still answered, as that socket's last.
    if (draining) res.setHeader('connection', 'close');
    res.on('close', () => {
      running.delete(res);
      if (!draining) return;
      // A response whose headers went out before the drain kept its socket alive: close it once idle.
      if (sweptIdle) setImmediate(() => server.closeIdleConnections());
    });
    const route = (req.url ?? '/').split('?')[0] ?? '/';
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const known = [GRAPHQL_ENDPOINT, '/healthz', '/readyz', '/metrics'].includes(route)
        ? route
        : route === '/console' || route.startsWith('/console/')
          ? '/console'
          : route === QUEUE_BOARD_PATH || route.startsWith(`${QUEUE_BOARD_PATH}/`)
            ? QUEUE_BOARD_PATH
            : 'other';
      metrics.httpDuration.observe({ route: known, status: String(res.statusCode) }, seconds);
    });
    if (route === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (route === '/readyz') {
      const { ok, checks } = await ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks }));
      return;
    }
    if (route === '/metrics') {
      if (!mayScrape(req, res)) return;
      let text: string;
      try {
        text = deps.processMetrics ? await deps.processMetrics.all() : await metrics.registry.metrics();
      } catch (error) {
        logger.warn({ err: error }, 'metrics of the API processes unavailable');
        res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        return;
      }
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      return;
    }
    if (route === '/console' || route.startsWith('/console/')) {
      await agentConsole(req, res);
      return;
    }
    if (route === QUEUE_BOARD_PATH || route.startsWith(`${QUEUE_BOARD_PATH}/`)) {
      await queueBoard.handle(req, res);
      return;
    }
    if (FAST_PATHS.has(route) && ((await yoga.answerFromCache(req, res)) || (await yoga.answerDirectly(req, res)))) return;
    await yoga.handle(req, res);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://localhost:${port}/graphql`;
  logger.info({ url }, 'API listening');

  // Resolves once the listener is closed and every connection has ended.
  let closed: Promise<void> | undefined;
  const stopListening = (): Promise<void> =>
    // net's close, not http's: http's also destroys the sockets idle right now, and under load
    // "idle" includes a client's next request still unread in the socket buffer (a reset for it).
    (closed ??= new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())));

  return {
    url,
    server,
    stopAccepting: () => void stopListening(),
    close: async () => {
      // Stop listening, let running requests finish (each closing its socket after the response),
      // close idle keep-alive sockets; after API_DRAIN_TIMEOUT_MS destroy what is left.
      // Listening stops before the first `Connection: close` goes out: a client that reconnects
      // after it must find the port closed (ECONNREFUSED), not a connection that is then reset.
      const allClosed = stopListening();
      draining = true;
      // Live streams never finish by themselves: complete them, and those opened from now on at once, so that their
      // responses end now (clients reconnect elsewhere).
      yoga.endLiveStreams();
      for (const res of running) if (!res.headersSent) res.setHeader('connection', 'close');
      // A busy socket gets its next answer with `Connection: close` well within this grace; what is
      // still idle after it is a client that sends nothing.
      // The sweep runs in the check phase (setImmediate), after the poll phase has read what the sockets
      // hold: when this process was too busy to run the timer on time, a request that arrived meanwhile is
      // parsed (and its socket busy) before the sweep, instead of being destroyed unread (a reset).
      const idleSweep = setTimeout(
        () =>
          setImmediate(() => {
            sweptIdle = true;
            server.closeIdleConnections();
          }),
        DRAIN_IDLE_GRACE_MS,
      );
      // The deadline holds for every connection, whatever it was doing when the drain began: a request that started
      // during the drain on a kept-alive socket and never finishes must not hold the process.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), API_DRAIN_TIMEOUT_MS)));
      if (!(await Promise.race([allClosed.then(() => true), timedOut]))) {
        logger.warn(
          { requests: running.size },
          `connections still open after ${API_DRAIN_TIMEOUT_MS / 1000} s: closing them, with the requests they run`,
        );
        server.closeAllConnections();
        await allClosed;
      }
      clearTimeout(timer);
      clearTimeout(idleSweep);
      redis.disconnect();
      await yoga.dispose();
      await queueBoard.close();
      await outbox.close();
      await tracing?.shutdown();
      stopTrackingPool();
    },
  };
}
