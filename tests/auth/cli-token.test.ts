// No useTestApp(): runs the operator CLI (src/cli.ts) as a child process; `token` needs no database or Redis.
import { afterEach, describe, expect, it } from 'vitest';
import { jwtVerify } from 'jose';
import { killServiceProcesses, startServiceProcess } from '../support/processes.js';

afterEach(() => killServiceProcesses());

const SECRET = 'cli-token-test-secret-'.padEnd(48, 'k');

describe('npm run cli -- token', () => {
  it('refuses (non-zero exit) an --expires that makes a token that is already expired, instead of printing it with exit 0', async () => {
    // `jose` reads "1h ago" as one hour in the past; the lifetime check (exp − iat > max) never trips for a negative one.
    const cli = startServiceProcess(
      'src/cli.ts',
      { JWT_SECRET: SECRET, LOG_LEVEL: 'silent' },
      {
        args: ['token', '--member', 'member-1', '--expires', '1h ago'],
      },
    );
    const { code } = await cli.exited;
    const printed = cli.output().trim().split('\n').at(-1) ?? '';
    // Printed with exit 0, it would be a token the API refuses on first use, while a scripted caller sees success.
    const verified = await jwtVerify(printed, new TextEncoder().encode(SECRET)).then(
      () => 'valid',
      // jose answers ERR_JWS_INVALID for text that is not a compact JWS at all (such as an error message).
      (error: { code?: string }) => (error.code === undefined || error.code === 'ERR_JWS_INVALID' ? 'not a token' : error.code),
    );
    expect({ code, verified }).toEqual({ code: 2, verified: 'not a token' });
    expect(cli.output()).toContain('already expired');
  });
});
