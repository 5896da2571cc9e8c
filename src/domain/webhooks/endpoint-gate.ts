/**
 * Keeps one slow or failing endpoint from taking the delivery worker's slots
 * from the others, within one worker process:
 *
 * - at most `maxInFlight` requests to an endpoint at a time; a delivery beyond
 *   that is put back for a moment (`busyDelayMs`, with jitter) instead of
 *   waiting in a slot;
 * - after `openAfterFailures` failed attempts in a row the endpoint's circuit
 *   opens: its deliveries are put back until the cool-down ends (30 s, doubling
 *   on every failed probe up to 10 min), spread over a little while so they
 *   do not come back at once; then one probe at a time goes out, and a success
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

interface EndpointState {
  inFlight: number;
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

  admit(endpointId: string): Admission {
    const { now, random, maxInFlight, busyDelayMs } = this.options;
    const state = this.stateOf(endpointId);
    const at = now();
    if (state.openUntil > at) {
      // Spread the returns over a fifth of the cool-down.
      const spread = Math.max(100, state.cooldownMs / 5);
      return { admitted: false, retryAt: state.openUntil + Math.floor(random() * spread) };
    }
    // Half-open (the cool-down has passed, failures not yet cleared): one probe at a time.
    const open = state.failuresInRow >= this.options.openAfterFailures;
    if (state.inFlight >= (open ? 1 : maxInFlight)) {
      return { admitted: false, retryAt: at + busyDelayMs + Math.floor(random() * busyDelayMs) };
    }
    state.inFlight += 1;
    let released = false;
    return {
      admitted: true,
      release: (succeeded) => {
        if (released) return;
        released = true;
        state.inFlight -= 1;
        this.settle(state, succeeded);
        if (state.inFlight === 0 && state.failuresInRow === 0) this.endpoints.delete(endpointId);
      },
    };
  }

  /** Whether the endpoint's circuit is open now (its deliveries are being put back). */
  isOpen(endpointId: string): boolean {
    return (this.endpoints.get(endpointId)?.openUntil ?? 0) > this.options.now();
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
    if (state.failuresInRow >= this.options.openAfterFailures && state.openUntil <= this.options.now()) {
      const wasOpened = state.openUntil > 0;
      state.cooldownMs = wasOpened ? Math.min(state.cooldownMs * 2, this.options.maxCooldownMs) : this.options.cooldownMs;
      state.openUntil = this.options.now() + state.cooldownMs;
    }
  }

  private stateOf(endpointId: string): EndpointState {
    let state = this.endpoints.get(endpointId);
    if (!state) {
      state = { inFlight: 0, failuresInRow: 0, openUntil: 0, cooldownMs: this.options.cooldownMs };
      this.endpoints.set(endpointId, state);
    }
    return state;
  }
}
