#!/usr/bin/env node
// `npm start`: local mode. Every function in one process on PORT (default 8080), mounted
// at /intake, /status, … on an embedded PostgreSQL (PGlite + pgvector, files in
// FACTEUR_DATA_DIR) unless DATABASE_URL points at a real server.
//
// A start-up failure is one line on stderr saying what to do (the stack only with
// FACTEUR_LOG_LEVEL=debug), exit code 1. Ctrl-C or SIGTERM shuts down cleanly (exit 0); a
// second Ctrl-C forces the exit (130): stages killed, the database recovers at the next start.
import { debugStack, firstLine, startLocal, startupLine, type Local } from '../shared/local/index.js';

const debug = process.env.FACTEUR_LOG_LEVEL === 'debug';
const say = (line: string) => process.stderr.write(`${line}\n`);
let local: Local | undefined;

const crash = (what: string) => (err: unknown) => {
  say(`facteur: ${what}: ${firstLine(err)}`);
  if (debug) say(debugStack(err));
  local?.abort();
  process.exit(1);
};
process.on('uncaughtException', crash('local mode crashed'));
process.on('unhandledRejection', crash('local mode crashed'));

let firstSignalAt = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (!firstSignalAt) {
    firstSignalAt = Date.now();
    // during the start, the shutdown follows as soon as it is done
    if (local) local.close().then(() => process.exit(0), crash('shutdown failed'));
    else say('facteur: stopping as soon as the start is done (Ctrl-C again to exit now)');
    return;
  }
  // `npm start` forwards the terminal's Ctrl-C to this process, which got it from the
  // terminal too: the same key press arrives twice within milliseconds
  if (Date.now() - firstSignalAt < 1000) return;
  say(`facteur: ${signal} again: forcing the exit (stages killed; the database recovers at the next start)`);
  local?.abort();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  local = await startLocal({ env: process.env });
} catch (err) {
  say(`facteur: ${startupLine(err)}`);
  if (debug) say(debugStack(err));
  process.exit(1);
}
// the one line a newcomer needs, plain among the JSON log lines
say(`facteur: ready — open ${local.url}/ in a browser for the dashboard (${local.url}/status/ui/ideas)`);
if (firstSignalAt) local.close().then(() => process.exit(0), crash('shutdown failed'));
