import net from 'node:net';
import { vi } from 'vitest';

/**
 * Socket writes (each a system call) made while `run` runs, on every socket of the test process: a stream's
 * `_write`/`_writev`, one per flush. What a round trip costs the sender, counted without touching the protocol.
 */
export async function socketWritesDuring(run: () => Promise<unknown>): Promise<number> {
  const write = vi.spyOn(net.Socket.prototype, '_write');
  const writev = vi.spyOn(net.Socket.prototype, '_writev');
  try {
    await run();
    return write.mock.calls.length + writev.mock.calls.length;
  } finally {
    write.mockRestore();
    writev.mockRestore();
  }
}
