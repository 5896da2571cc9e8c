import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { blockedAddressReason, isIpLiteral } from '../domain/webhooks/private-addresses.js';
import { refusedWebhookPort } from '../domain/webhooks/receiver-ports.js';
import type { SendWebhook, WebhookRequest, WebhookResponse } from '../domain/webhooks/webhook-delivery.service.js';

export interface WebhookSenderOptions {
  /** Let requests reach private, loopback and link-local addresses, on any port (WEBHOOK_ALLOW_PRIVATE_ADDRESSES; tests). */
  allowPrivateAddresses: boolean;
  /** Ports besides the scheme's own (443, 80) that requests may reach (WEBHOOK_ALLOWED_PORTS); none when absent. */
  allowedPorts?: readonly number[];
  /** Connections kept open per receiver host. */
  maxSocketsPerHost?: number;
}

/** The answer body is read (so the connection can be reused) but never kept beyond this much. */
const MAX_ANSWER_BYTES = 64 * 1024;

class BlockedAddressError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
}

/**
 * A DNS lookup that refuses names resolving to an address webhooks may not
 * reach. It runs inside the connection's own lookup, so the address checked is
 * the address connected to (a name cannot be re-pointed between check and use).
 * Any blocked address among the answers refuses the name.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      if (!allowPrivate) {
        for (const { address } of addresses) {
          const reason = blockedAddressReason(address);
          if (reason) return callback(new BlockedAddressError(`${hostname} resolves to a ${reason} address (${address})`), '', 0);
        }
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      if (!first) return callback(new Error(`${hostname} has no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The outbound side of webhooks: one POST per call, never following a
 * redirect (a 3xx is a failed attempt), refusing ports other than the scheme's
 * own and those listed, and private, loopback and link-local addresses —
 * literal or resolved — unless allowed, and giving up
 * after `timeoutMs` for the whole exchange. Never throws: a failure is an
 * answer without a status code and with the reason.
 */
export function createWebhookSender(options: WebhookSenderOptions): SendWebhook & { close(): void } {
  const lookup = guardedLookup(options.allowPrivateAddresses);
  const agentOptions = { keepAlive: true, maxSockets: options.maxSocketsPerHost ?? 32, lookup };
  const agents: Record<'http:' | 'https:', http.Agent> = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

  const send = async (request: WebhookRequest): Promise<WebhookResponse> => {
    const started = performance.now();
    const refused = (error: string): WebhookResponse => ({ statusCode: null, durationMs: Math.round(performance.now() - started), error });
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return refused('the endpoint URL is not valid');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return refused(`the ${url.protocol} scheme is not allowed`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!options.allowPrivateAddresses && isIpLiteral(host)) {
      // A literal address skips the lookup: check it here.
      const reason = blockedAddressReason(host);
      if (reason) return refused(`refused: ${host} is a ${reason} address`);
    }
    // Before connecting (and before a name is looked up): an endpoint stored with another port, before the rule or
    // written around it, is never called.
    const port = options.allowPrivateAddresses ? null : refusedWebhookPort(url, options.allowedPorts);
    if (port !== null) return refused(`refused: port ${port} is not allowed`);
    const transport = url.protocol === 'https:' ? https : http;
    const agent = agents[url.protocol as 'http:' | 'https:'];
    return new Promise<WebhookResponse>((resolve) => {
      let settled = false;
      const outgoing = transport.request(url, {
        method: 'POST',
        agent,
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
      });
      const timer = setTimeout(() => outgoing.destroy(new Error(`no answer within ${request.timeoutMs} ms`)), request.timeoutMs);
      const finish = (statusCode: number | null, error: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ statusCode, durationMs: Math.round(performance.now() - started), error });
      };
      outgoing.on('response', (answer) => {
        let read = 0;
        answer.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) answer.destroy();
        });
        const status = answer.statusCode ?? null;
        const redirect = status !== null && status >= 300 && status < 400;
        const verdict = () => finish(status, redirect ? `redirect to ${answer.headers.location ?? '?'} not followed` : null);
        answer.on('end', verdict);
        answer.on('close', verdict);
        answer.on('error', verdict);
      });
      outgoing.on('error', (error: Error & { code?: string }) => {
        finish(null, error instanceof BlockedAddressError ? `refused: ${error.message}` : error.message || error.code || 'request failed');
      });
      outgoing.end(request.body);
    });
  };
  return Object.assign(send, {
    close: () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  });
}
