/**
 * A small cache of credential checks (an API key verified, a member's account
 * status) that every API process keeps because the checks run on every request.
 *
 * Invalidation must win over a read in flight: a request that read the database
 * before a revocation arrived must not put its stale answer back after the
 * revocation cleared it. Every invalidation moves a generation counter; an answer
 * read from the database is stored only if the generation is still the one taken
 * before the read (`snapshot`). While the invalidation channel is down the cache is
 * bypassed (`setBypass`), so every check goes to the database.
 */
export interface CredentialCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now: () => number;
}

export class CredentialCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private generation = 0;
  private bypass = false;

  constructor(private readonly options: CredentialCacheOptions) {}

  get(key: string): V | undefined {
    if (this.bypass) return undefined;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.options.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** The generation to hand to `set` with an answer read after this call. */
  snapshot(): number {
    return this.generation;
  }

  /** Stores an answer read since `snapshot`, unless an invalidation came in between. */
  set(key: string, value: V, snapshot: number): void {
    if (this.bypass || snapshot !== this.generation) return;
    if (!this.entries.has(key) && this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: this.options.now() + this.options.ttlMs });
  }

  /** Drops every entry whose value matches, and any answer still being read. */
  deleteWhere(matches: (value: V, key: string) => boolean): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) if (matches(entry.value, key)) this.entries.delete(key);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  /** While on, nothing is served from or stored in the cache. */
  setBypass(on: boolean): void {
    this.bypass = on;
    this.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
