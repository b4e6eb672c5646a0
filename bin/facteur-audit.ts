#!/usr/bin/env node
// `facteur-audit verify|seal`: checks the audit log's hash chain (exit 1 on any problem),
// or seals what can be sealed now. Uses DATABASE_URL.
import { sealAudit, verifyAudit } from '../shared/audit/index.js';
import { loadConfig } from '../shared/config/index.js';
import { connect } from '../shared/db/index.js';

const cmd = process.argv[2] ?? 'verify';
const config = loadConfig();
if (!config.databaseUrl) {
  process.stderr.write('facteur-audit: DATABASE_URL is required\n');
  process.exit(2);
}
const sql = connect(config.databaseUrl.reveal(), { max: 1 });
try {
  if (cmd === 'seal') {
    const seal = await sealAudit(sql);
    process.stdout.write(seal ? `sealed ${seal.entryCount} entries: seal ${seal.id} ${seal.sealHash}\n` : 'nothing new to seal\n');
  } else if (cmd === 'verify') {
    if (process.argv.includes('--seal')) await sealAudit(sql);
    const v = await verifyAudit(sql);
    process.stdout.write(`${v.ok ? 'OK' : 'TAMPERED'}: ${v.entries} entries, ${v.sealedEntries} sealed in ${v.seals} seals, head ${v.headSealHash ?? '-'}\n`);
    for (const p of v.problems) process.stdout.write(`  ${p}\n`);
    process.exitCode = v.ok ? 0 : 1;
  } else {
    process.stderr.write('usage: facteur-audit verify [--seal] | seal\n');
    process.exitCode = 2;
  }
} finally {
  await sql.end();
}
