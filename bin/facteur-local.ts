#!/usr/bin/env node
// `npm start`: local mode. Every function in one process on PORT (default 8080), mounted
// at /intake, /status, … on an embedded PostgreSQL (PGlite + pgvector, files in
// FACTEUR_DATA_DIR) unless DATABASE_URL points at a real server.
import { startLocal } from '../shared/local/index.js';

const local = await startLocal({ env: process.env });
const stop = () => {
  void local.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
