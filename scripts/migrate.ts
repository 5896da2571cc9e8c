import { loadConfig } from '../src/config/env.js';
import { applyMigrations } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL, as `prisma migrate deploy` would. */
const config = loadConfig();
const logger = createLogger(config.logLevel, { component: 'migrate' });

if (!config.databaseUrl) {
  logger.error('DATABASE_URL is not set: no database to migrate');
  process.exitCode = 1;
} else {
  try {
    const { applied } = await applyMigrations(config.databaseUrl, { logger });
    logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
  } catch (error) {
    logger.error({ err: error }, 'migration failed');
    process.exitCode = 1;
  }
}
