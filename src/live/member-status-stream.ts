import type { MemberChangeKind } from '../domain/deps.js';
import { RateLimitedError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import type { MemberChangeBus } from './member-change-bus.js';
import { createCredentialWatchers } from './credential-watchers.js';
import type { StreamPlaces } from './stream-places.js';

/** A change as a stream tells it: `CURRENT` is the first event, the status as it is when the stream opens. */
export interface LiveChange {
  kind: MemberChangeKind | 'CURRENT';
  reference: string | null;
}

/** One event of a live member status stream: whose status to read, and the changes since the previous event. */
export interface MemberStatusEvent {
  memberId: string;
  changes: LiveChange[];
}

/** At most this many changes are kept for one event; older ones of a burst are dropped (the status read is current anyway). */
const MAX_CHANGES_PER_EVENT = 100;

/**
 * One subscriber's stream of a member's status. Changes that arrive while the
 * previous event is still being read and sent wait in one list and become one
 * event: a burst of 100 earns costs a subscriber a few status reads, not 100.
 * `return()` (the client went away) and `end()` (its credentials no longer
 * hold) finish it at once, also while it waits for the next change.
 */
export class MemberStatusStream implements AsyncIterableIterator<MemberStatusEvent> {
  private pending: LiveChange[] = [{ kind: 'CURRENT', reference: null }];
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(readonly memberId: string) {}

  /** Runs when the stream ends, however it ends. */
  onEnd(cleanup: () => void): void {
    if (this.closed) cleanup();
    else this.cleanups.push(cleanup);
  }

  push(change: Pick<LiveChange, 'kind' | 'reference'>): void {
    if (this.closed) return;
    this.pending.push({ kind: change.kind, reference: change.reference });
    if (this.pending.length > MAX_CHANGES_PER_EVENT) this.pending.splice(0, this.pending.length - MAX_CHANGES_PER_EVENT);
    this.wake?.();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.wake?.();
  }

  get ended(): boolean {
    return this.closed;
  }

  async next(): Promise<IteratorResult<MemberStatusEvent, undefined>> {
    while (!this.closed && this.pending.length === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    if (this.closed) return { done: true, value: undefined };
    const changes = this.pending;
    this.pending = [];
    return { done: false, value: { memberId: this.memberId, changes } };
  }

  async return(): Promise<IteratorResult<MemberStatusEvent, undefined>> {
    this.end();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export interface OpenStream {
  memberId: string;
  /** Who watches, for the per-caller limit (`member:…`, `staff:…`, `apiKey:…`). */
  watcher: string;
  /** Whether the watcher may still watch: credentials still valid, the member still theirs to watch. */
  stillAllowed(): Promise<boolean>;
  /** Credential ids whose revocation or status change must re-check this stream at once (API key id, member id). */
  credentialIds: readonly string[];
  /**
   * When the credentials stop holding by their age alone (a token's expiry, ms since the epoch): the stream is
   * re-checked then, and any change from then on is passed on only after a re-check.
   */
  expiresAt?: number;
  /**
   * The request's signal, aborted once its client has gone: the stream ends then, also when the client left while
   * the subscription was still being set up (nothing would read the stream, so nothing would ever return it).
   */
  signal?: AbortSignal;
}

/**
 * The live streams of one API process: a limit per watcher (its places shared with the other API processes), the bus feeding
 * them, and the re-check of credentials — every `authRecheckMs`, at once when
 * one of the stream's credentials changes (`credentialChanged`), at once when
 * its token expires (`expiresAt`), and before passing on a STATUS_CHANGED (a
 * member closed ends their own stream) or any change after that expiry. A
 * stream whose caller no longer passes ends; the client sees it complete.
 */
export interface LiveStatus {
  /** A RateLimitedError when the watcher holds all its places (across API processes: src/live/stream-places.ts). */
  open(request: OpenStream): Promise<MemberStatusStream>;
  /** A credential changed somewhere (API key revoked, member status changed): re-check the streams that use it. */
  credentialChanged(id: string): void;
  /** Open streams in this process. */
  readonly size: number;
  /** Ends every open stream, and every stream opened after (already ended): the process stops, clients reconnect elsewhere. */
  close(): void;
}

export function createLiveStatus(deps: {
  bus: MemberChangeBus;
  logger: Logger;
  /** The watchers' places (LIVE_MAX_STREAMS_PER_CALLER), shared with the approval queue's streams under their own kind. */
  places: StreamPlaces;
  limits: { authRecheckMs: number };
}): LiveStatus {
  const { bus, logger, places, limits } = deps;
  const credentials = createCredentialWatchers();
  const open = new Set<MemberStatusStream>();
  let closed = false;
  // Changes published while this process could not hear them are lost: every stream sends the current status again.
  bus.onResync(() => {
    for (const stream of open) stream.push({ kind: 'CURRENT', reference: null });
  });

  return {
    async open(request) {
      const { signal } = request;
      const ended = () => {
        const stream = new MemberStatusStream(request.memberId);
        stream.end();
        return stream;
      };
      if (closed || signal?.aborted) return ended();
      const release = await places.take('memberStatus', request.watcher);
      if (!release) throw new RateLimitedError(Math.ceil(limits.authRecheckMs / 1000));
      // The process began to stop, or the client left, while the place was taken.
      if (closed || signal?.aborted) {
        release();
        return ended();
      }
      const stream = new MemberStatusStream(request.memberId);
      open.add(stream);
      stream.onEnd(() => {
        open.delete(stream);
        release();
      });

      // Re-checks run one at a time; what arrives meanwhile waits behind it, in order.
      let checking: Promise<boolean> = Promise.resolve(true);
      const recheck = (): Promise<boolean> => {
        checking = checking.then(async () => {
          if (stream.ended) return false;
          try {
            if (await request.stillAllowed()) return true;
          } catch (error) {
            logger.warn({ err: error, memberId: request.memberId }, 'live member status: re-check failed, ending the stream');
          }
          stream.end();
          return false;
        });
        return checking;
      };
      const { expiresAt } = request;
      const expired = () => expiresAt !== undefined && Date.now() >= expiresAt;
      const stopListening = bus.listen(request.memberId, (change) => {
        if (change.kind !== 'STATUS_CHANGED' && !expired()) {
          stream.push(change);
          return;
        }
        void recheck().then((allowed) => allowed && stream.push(change));
      });
      const untrack = request.credentialIds.map((id) => credentials.watch(id, () => void recheck()));
      const timer = setInterval(() => void recheck(), limits.authRecheckMs);
      timer.unref();
      const stopExpiry = expiresAt === undefined ? undefined : atInstant(expiresAt, () => void recheck());
      const leave = () => stream.end();
      signal?.addEventListener('abort', leave, { once: true });
      stream.onEnd(() => {
        stopListening();
        for (const stop of untrack) stop();
        clearInterval(timer);
        stopExpiry?.();
        signal?.removeEventListener('abort', leave);
      });
      return stream;
    },
    credentialChanged(id) {
      credentials.changed(id);
    },
    get size() {
      return open.size;
    },
    close() {
      closed = true;
      for (const stream of [...open]) stream.end();
    },
  };
}

/** The longest delay a Node timer takes (about 24.8 days); a later instant is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `run` once the system clock has reached `instant` (ms since the epoch), at once when it has already; returns
 * what cancels it. The timer does not keep the process alive.
 */
export function atInstant(instant: number, run: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = instant - Date.now();
    // A timer may fire a little before the wall clock says its instant came: wait the rest.
    if (left <= 0) {
      timer = undefined;
      run();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
