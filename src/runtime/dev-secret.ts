import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/env.js';
import type { Logger } from '../logger.js';

/**
 * Outside production, with neither JWT_SECRET nor JWKS_URL set, the service and
 * the CLI share a random HS256 secret kept in `<DATA_DIR>/jwt-secret`, so that
 * `npm start` works out of the box and `npm run cli -- token …` mints tokens it
 * accepts. Production must configure one of them explicitly.
 */
export async function withDevelopmentJwtSecret(config: Config, logger?: Logger): Promise<Config> {
  if (config.isProduction || config.jwt.secret || config.jwt.jwksUrl) return config;
  const file = path.resolve(config.dataDir, 'jwt-secret');
  let secret: string;
  try {
    secret = (await readFile(file, 'utf8')).trim();
  } catch {
    secret = randomBytes(48).toString('base64url');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {
      secret = (await readFile(file, 'utf8')).trim();
    });
  }
  logger?.info({ file }, 'no JWT_SECRET/JWKS_URL: using the development JWT secret');
  return { ...config, jwt: { ...config.jwt, secret, developmentSecret: true }, adminSessionSecret: config.adminSessionSecret ?? secret };
}
