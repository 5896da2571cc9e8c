import { defineConfig } from 'prisma/config';

// The service applies migrations itself (src/db/migrate.ts); this file lets the
// Prisma CLI (generate, and migrate deploy where its engine is available) find them.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/treue' },
});
