/**
 * How long and from where the ledger fuzzer runs. The normal suite runs a short
 * budget with a fresh random seed; `npm run fuzz:ledger` runs long; a printed
 * seed (and path) replays a failure:
 *   FUZZ_SEED=… [FUZZ_PATH=…] npx vitest run tests/fuzz
 */
export interface FuzzSettings {
  runs: number;
  seed: number | undefined;
  path: string | undefined;
  maxSteps: number;
  /** Shrink a failure to a small counterexample (FUZZ_SHRINK=0: report the first failure as found). */
  shrink: boolean;
  /** How long a failure is shrunk before it is reported. */
  shrinkBudgetMs: number;
  /** One scenario that runs longer fails (a hang becomes a reported failure with its seed). */
  runTimeoutMs: number;
  /** The test's own timeout: generous, since a failure is shrunk before it is reported. */
  timeoutMs: number;
}

/** Runs in the normal suite: about 15–25 s on the 2-core CI machine. */
export const CI_RUNS = 12;

function whole(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(value)}`);
  return number;
}

export function fuzzSettings(env: NodeJS.ProcessEnv = process.env): FuzzSettings {
  const seed = env.FUZZ_SEED ? whole('FUZZ_SEED', env.FUZZ_SEED, 0) : undefined;
  const path = env.FUZZ_PATH || undefined;
  // A given path replays one counterexample: one run is all it takes.
  const runs = path ? 1 : whole('FUZZ_RUNS', env.FUZZ_RUNS, CI_RUNS);
  const maxSteps = whole('FUZZ_STEPS', env.FUZZ_STEPS, 30);
  const shrink = env.FUZZ_SHRINK !== '0';
  const shrinkBudgetMs = 60_000;
  const runTimeoutMs = 60_000;
  // Runs take 1–3 s each on the shared 2-core machine; then the shrinking, and the one scenario
  // that may still hang when the shrink budget runs out.
  const timeoutMs = 60_000 + runs * 10_000 + shrinkBudgetMs + runTimeoutMs;
  return { runs, seed, path, maxSteps, shrink, shrinkBudgetMs, runTimeoutMs, timeoutMs };
}
