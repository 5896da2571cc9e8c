import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's `chromium` (Playwright's own browser download is not reachable here; `.ci/run` installs the
 * package when it is missing), headless, with the flags this machine needs. `CHROMIUM_PATH` points elsewhere.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
