/** The port of each scheme a webhook may use when its URL names none. */
const SCHEME_PORTS: Readonly<Record<string, number>> = { 'https:': 443, 'http:': 80 };

/** The port a webhook URL reaches: the one it names, else its scheme's own; undefined for a scheme other than http(s). */
export const webhookPortOf = (url: URL): number | undefined => (url.port === '' ? SCHEME_PORTS[url.protocol] : Number(url.port));

/**
 * The port of a webhook URL when it may not be used, else null. Allowed: the scheme's own port (443 for https, 80 for
 * http; named in the URL or not) and those the operator lists (WEBHOOK_ALLOWED_PORTS). Another port of a public
 * address may be an internal service's that a firewall lets through (a database, an admin interface, a metrics
 * endpoint), reached through a webhook URL by server-side request forgery. A scheme other than http(s) is refused
 * elsewhere.
 */
export function refusedWebhookPort(url: URL, allowedPorts: readonly number[] = []): number | null {
  const port = webhookPortOf(url);
  if (port === undefined || port === SCHEME_PORTS[url.protocol] || allowedPorts.includes(port)) return null;
  return port;
}
