import { prepareWorkerDatabase } from './db.js';

// Runs before every test file in its worker: the worker's database exists from here on.
await prepareWorkerDatabase();
