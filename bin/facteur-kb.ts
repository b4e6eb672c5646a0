#!/usr/bin/env node
// `npm run kb -- reembed --to <version>` / `promote …`: the knowledge base's operator commands
// (shared/kb/cli.ts says what each does). Uses DATABASE_URL.
import { loadConfig } from '../shared/config/index.js';
import { connect } from '../shared/db/index.js';
import { runKbCli } from '../shared/kb/cli.js';
import { configuredEmbedder } from '../shared/kb/embed/index.js';
import { createLogger } from '../shared/log/index.js';

const config = loadConfig();
if (!config.databaseUrl) {
  process.stderr.write('kb: DATABASE_URL is required\n');
  process.exit(2);
}
const sql = connect(config.databaseUrl.reveal(), { max: 2 });
try {
  process.exitCode = await runKbCli(process.argv.slice(2), { sql, config, log: createLogger('warn'), out: process.stdout, configured: configuredEmbedder(config) });
} finally {
  await sql.end();
}
