#!/usr/bin/env node
// `npm run demo`: posts an Idea Spec to a running local Facteur (`npm start`) the way
// KafkaSource would, then follows the idea through its life until it ends.
// FACTEUR_URL (default http://127.0.0.1:$PORT, PORT as for npm start, 8080); FACTEUR_STATUS_TOKEN / FACTEUR_INTAKE_TOKEN if set
// (the same values `npm start` was given). Any answer that is not a success is one line, exit 1.
const base = (process.env.FACTEUR_URL ?? `http://127.0.0.1:${process.env.PORT ?? '8080'}`).replace(/\/+$/, '');
const auth = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
const run = Date.now().toString(36).slice(-4);
const spec = {
  id: `demo-${Date.now()}`,
  // the example agent names its tasks (and the files they write) after the title: a second
  // demo on the same repository must write new files, or its tasks change nothing and block
  title: process.argv[2] ?? `Add dark mode ${run}`,
  goal: 'Users can switch the dashboard to a dark theme that persists across sessions.',
  successMetrics: ['the theme toggle persists across reloads'],
  acceptanceCriteria: ['contrast ratio ≥ 4.5 in both themes'],
  // local mode's sample repository (FACTEUR_LOCAL_REPOS maps more); FACTEUR_DEMO_REPOSITORY for another
  repository: process.env.FACTEUR_DEMO_REPOSITORY ?? 'local/sample',
  priority: 'high',
};

function fail(line: string): never {
  process.stderr.write(`demo: ${line}\n`);
  process.exit(1);
}

/** What to do about an answer that is not a success, by who answered and how. */
function hint(what: 'intake' | 'status', status: number): string {
  const token = what === 'intake' ? 'FACTEUR_INTAKE_TOKEN' : 'FACTEUR_STATUS_TOKEN';
  if (status === 401) return `: set ${token} to the value \`npm start\` was given`;
  if (status === 404) return `: is ${base} a Facteur in local mode (\`npm start\`)?`;
  if (status === 503) return ': Facteur is starting or shutting down; try again';
  return '';
}

/** A request whose answer must be a 2xx JSON object; anything else ends the demo with one line. */
async function call(what: 'intake' | 'status', url: string, init: RequestInit): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    fail(`cannot reach ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}): start Facteur with \`npm start\` first`);
  }
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status < 200 || res.status >= 300 || !body || typeof body !== 'object') {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const why = err ? `${String(err.code)}: ${String(err.message)}` : text.replace(/\s+/g, ' ').slice(0, 200) || '(empty body)';
    fail(`${what} answered ${res.status} (${why})${hint(what, res.status)}`);
  }
  return body as Record<string, unknown>;
}

const accepted = await call('intake', `${base}/intake`, {
  method: 'POST',
  headers: {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event', 'ce-id': `demo/${spec.id}`,
    'ce-source': '/apis/v1/namespaces/facteur/kafkasources/facteur-intake#codex.intent',
    'content-type': 'application/json', ...auth(process.env.FACTEUR_INTAKE_TOKEN),
  },
  body: JSON.stringify(spec),
});
const ideaId = accepted.ideaId;
if (typeof ideaId !== 'string') fail(`intake answered without an ideaId: ${JSON.stringify(accepted).slice(0, 200)}`);
process.stdout.write(`idea ${ideaId} registered; following it (${base}/status/v1/ideas/${ideaId})\n`);
process.stdout.write(`watch it live in a browser: ${base}/status/ui/idea?id=${ideaId}\n`);

interface Detail {
  idea: { status: string; statusReason: string | null };
  tasks: { key: string; stage: string; state: string }[];
}
const seen = new Set<string>();
const started = Date.now();
for (;;) {
  const detail = (await call('status', `${base}/status/v1/ideas/${ideaId}`, { headers: auth(process.env.FACTEUR_STATUS_TOKEN) })) as unknown as Detail;
  if (!detail.idea || !Array.isArray(detail.tasks)) fail(`status answered an unexpected body: ${JSON.stringify(detail).slice(0, 200)}`);
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  const line = `idea ${detail.idea.status}${detail.idea.statusReason ? ` (${detail.idea.statusReason})` : ''}`;
  if (!seen.has(line)) process.stdout.write(`${t}s  ${line}\n`);
  seen.add(line);
  for (const task of detail.tasks) {
    const l = `  ${task.stage.padEnd(14)} ${task.key.padEnd(28)} ${task.state}`;
    if (!seen.has(l)) process.stdout.write(`${t}s${l}\n`);
    seen.add(l);
  }
  if (['completed', 'blocked', 'cancelled', 'failed'].includes(detail.idea.status)) break;
  await new Promise((r) => setTimeout(r, 300));
}

// Where the work is: the sample repository's base branch holds what integration merged.
const home = await fetch(`${base}/`, { headers: { accept: 'application/json' } }).then((r) => r.json() as Promise<{ sampleRepository?: { name: string; path: string } }>).catch(() => undefined);
const repo = home?.sampleRepository;
if (repo && spec.repository === repo.name) {
  process.stdout.write(`\nthe work, in the sample repository:\n  git -C ${repo.path} log --oneline main\n`);
}
process.stdout.write(`the runs, their artifacts (test-report, diff-stats, …): ${base}/status/v1/ideas/${ideaId}\n`);
