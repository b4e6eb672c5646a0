// Child process for the "killed run" test: opens a workspace with the options given as JSON
// in argv[2], leaves a half-done file in it, prints "ready" and waits to be killed (-9), so
// its worktree and lock files stay behind exactly as a killed pod leaves them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWorkspace } from '../../../shared/agent/git/workspace.js';

const ws = await openWorkspace(JSON.parse(process.argv[2] ?? '{}'));
writeFileSync(join(ws.dir, 'half-done.txt'), 'unfinished\n');
process.stdout.write(`ready ${ws.dir}\n`);
setInterval(() => {}, 60_000);
