/**
 * `REDIS_URL` names one Redis — `redis://…` / `rediss://…` — or a Redis Cluster:
 * `redis+cluster://[user:password@]host:port,host:port,…` (`rediss+cluster://` for TLS), a few seed
 * nodes from which the client learns the rest. Pure parsing: src/config/env.ts validates with it,
 * src/redis/redis-client.ts connects with it.
 */
export interface ClusterTarget {
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME.test(url);
}

/** The seed nodes and credentials of a `redis+cluster://` URL; throws an `Error` saying what is wrong. */
export function parseClusterUrl(url: string): ClusterTarget {
  const scheme = CLUSTER_SCHEME.exec(url);
  if (!scheme) throw new Error('expected redis+cluster:// or rediss+cluster://');
  let rest = url.slice(scheme[0].length).replace(/[/?#].*$/s, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const credentials = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = credentials.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : credentials) || undefined;
    password = colon >= 0 ? decodeURIComponent(credentials.slice(colon + 1)) || undefined : undefined;
  }
  const nodes = rest.split(',').map((node) => {
    const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/i.exec(node.trim());
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw new Error(`"${node}" is not host:port`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  return { nodes, username, password, tls: scheme[1]!.toLowerCase() === 'rediss' };
}

/** What is wrong with a `REDIS_URL`, or undefined when it names one server or a cluster. */
export function redisUrlProblem(url: string): string | undefined {
  if (isClusterUrl(url)) {
    try {
      parseClusterUrl(url);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
  try {
    const protocol = new URL(url).protocol;
    return protocol === 'redis:' || protocol === 'rediss:' ? undefined : 'expected redis://, rediss:// or redis+cluster://';
  } catch {
    return 'not a URL';
  }
}
