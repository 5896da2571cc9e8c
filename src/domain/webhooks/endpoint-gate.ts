/**
 * Keeps one slow or failing endpoint from taking the delivery worker's slots
 * from the others, within one worker process:
 *
 * - at most `maxInFlight` requests to an endpoint at a time; up to as many
 *   more deliveries wait in their slots for one of those to finish (a fast
 *   endpoint's queue moves on at once), at most `busyDelayMs`; any further
 *   delivery, or one that waited that long, is put back for a moment (with
 *   jitter). So an endpoint holds at most 2 × `maxInFlight` of the worker's slots;
 * - after `openAfterFailures` failed attempts in a row the endpoint's circuit
 *   opens: its deliveries are put back until the cool-down ends (30 s, doubling
 *   on every failed probe up to 10 min), spread over a fifth of it so they do
 *   not come back at once; then one probe at a time goes out, and a success
 *   closes the circuit.
 *
 * Putting a delivery back costs no attempt of its retry budget. State is per
 * process and in memory (several worker processes each keep their own).
 */
export interface EndpointGateOptions {
  maxInFlight: number;
  openAfterFailures?: number;
  cooldownMs?: number;
  maxCooldownMs?: number;
  busyDelayMs?: number;
  now?: () => number;
  random?: () => number;
}

interface Waiter {
  admit(): void;
  putBack(): void;
}

interface EndpointState {
  inFlight: number;
  waiting: Waiter[];
  failuresInRow: number;
  openUntil: number;
  cooldownMs: number;
}

export type Admission = { admitted: true; release(succeeded: boolean): void } | { admitted: false; retryAt: number };

export class EndpointGate {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly options: Required<EndpointGateOptions>;

  constructor(options: EndpointGateOptions) {
    this.options = {
      openAfterFailures: 5,
      cooldownMs: 30_000,
      maxCooldownMs: 10 * 60_000,
      busyDelayMs: 500,
      now: Date.now,
      random: Math.random,
      ...options,
    };
  }

  /** Admits a request to the endpoint now or after a short wait, or says when to try again. */
  async admit(endpointId: string): Promise<Admission> {
    const { now, random, busyDelayMs } = this.options;
    const state = this.stateOf(endpointId);
    const at = now();
    if (state.openUntil > at) {
      const spread = Math.max(100, state.cooldownMs / 5);
      return { admitted: false, retryAt: state.openUntil + Math.floor(random() * spread) };
    }
    const putBack = (): Admission => ({ admitted: false, retryAt: now() + busyDelayMs + Math.floor(random() * busyDelayMs) });
    if (state.inFlight < this.limitOf(state)) return this.enter(endpointId, state);
    // Half-open: one probe at a time, whose answer may take the whole request timeout. The others wait for it as
    // they waited for the cool-down, a fifth of it and up to as much again (not a moment: a dead endpoint's backlog
    // of thousands would go round the queue, and each put-back is written, every second while the probe hangs).
    if (this.isProbing(state)) {
      const wait = Math.max(busyDelayMs, state.cooldownMs / 5);
      return { admitted: false, retryAt: at + wait + Math.floor(random() * wait) };
    }
    // A queue as long as the limit: no waiting in a slot.
    if (state.waiting.length >= this.options.maxInFlight) return putBack();
    return new Promise<Admission>((resolve) => {
      const timer = setTimeout(() => {
        state.waiting = state.waiting.filter((other) => other !== waiter);
        resolve(putBack());
      }, busyDelayMs);
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(timer);
          resolve(this.enter(endpointId, state));
        },
        putBack: () => {
          clearTimeout(timer);
          const spread = Math.max(100, state.cooldownMs / 5);
          resolve({ admitted: false, retryAt: state.openUntil + Math.floor(random() * spread) });
        },
      };
      state.waiting.push(waiter);
    });
  }

  /** Whether the endpoint's circuit is open now (its deliveries are being put back). */
  isOpen(endpointId: string): boolean {
    return (this.endpoints.get(endpointId)?.openUntil ?? 0) > this.options.now();
  }

  private enter(endpointId: string, state: EndpointState): Admission {
    state.inFlight += 1;
    let released = false;
    return {
      admitted: true,
      release: (succeeded) => {
        if (released) return;
        released = true;
        state.inFlight -= 1;
        this.settle(state, succeeded);
        const next = state.inFlight < this.limitOf(state) && state.openUntil <= this.options.now() ? state.waiting.shift() : undefined;
        if (next) next.admit();
        else if (state.inFlight === 0 && state.waiting.length === 0 && state.failuresInRow === 0) this.endpoints.delete(endpointId);
      },
    };
  }

  private isProbing(state: EndpointState): boolean {
    return state.failuresInRow >= this.options.openAfterFailures;
  }

  private limitOf(state: EndpointState): number {
    return this.isProbing(state) ? 1 : this.options.maxInFlight;
  }

  private settle(state: EndpointState, succeeded: boolean): void {
    if (succeeded) {
      state.failuresInRow = 0;
      state.openUntil = 0;
      state.cooldownMs = this.options.cooldownMs;
      return;
    }
    state.failuresInRow += 1;
    // Requests that were already out when the circuit opened do not extend it.
    if (this.isProbing(state) && state.openUntil <= this.options.now()) {
      const wasOpened = state.openUntil > 0;
      state.cooldownMs = wasOpened ? Math.min(state.cooldownMs * 2, this.options.maxCooldownMs) : this.options.cooldownMs;
      state.openUntil = this.options.now() + state.cooldownMs;
      // Whoever waits for this endpoint now waits for the cool-down: put them back.
      for (const waiter of state.waiting.splice(0)) waiter.putBack();
    }
  }

  private stateOf(endpointId: string): EndpointState {
    let state = this.endpoints.get(endpointId);
    if (!state) {
      state = { inFlight: 0, waiting: [], failuresInRow: 0, openUntil: 0, cooldownMs: this.options.cooldownMs };
      this.endpoints.set(endpointId, state);
    }
    return state;
  }
}
