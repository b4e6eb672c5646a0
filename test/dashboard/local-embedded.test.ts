// The dashboard in `npm start` as a newcomer runs it: a real process on the embedded PGlite.
// The start-up log names the dashboard, `/` sends a browser there (and still answers JSON to
// everyone else), the open API means an open dashboard that says so, and live hints arrive
// by polling (PGlite serves one connection: no second one can LISTEN). An open event stream
// does not hold up the shutdown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/spawn.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { removeDir, startLocalProcess, stop, tempDir, type Proc } from '../local/proc.js';

let local: Proc;
let dataDir: string;
let url: string;

beforeAll(async () => {
  dataDir = tempDir('facteur-dash-lm-');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  local = await startLocalProcess({ FACTEUR_DATA_DIR: dataDir, PORT: String(port) });
  await local.waitFor(/ready — open/, 10_000);
}, 90_000);
afterAll(async () => {
  if (local) await stop(local);
  removeDir(dataDir);
});

describe('the dashboard in local mode (embedded PGlite)', () => {
  it('prints the dashboard URL at start-up; / sends a browser there and answers JSON to others', async () => {
    expect(local.output()).toContain(`open ${url}/ in a browser for the dashboard (${url}/status/ui/ideas)`);
    expect(local.output()).toContain(`"dashboard":"${url}/status/ui/ideas"`);
    const browser = await fetch(`${url}/`, { headers: { accept: 'text/html,*/*;q=0.8' }, redirect: 'manual' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/status/ui/ideas');
    const curl = await fetch(`${url}/`, { headers: { accept: '*/*' } });
    expect(await curl.json()).toMatchObject({ service: 'facteur local mode', dashboard: `${url}/status/ui/ideas` });
    const page = await fetch(`${url}/status/ui/ideas`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('open mode: every caller has every role');
    // the status function's own `/`, as mounted: to the mounted dashboard
    const mounted = await fetch(`${url}/status/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(mounted.headers.get('location')).toBe('/status/ui/ideas');
  });

  it('live hints arrive by polling the change sequence; shutdown does not wait for open streams', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/status/ui/events`, { signal: ac.signal });
    expect(res.status).toBe(200);
    let text = '';
    const reading = (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString('utf8');
      } catch {
        // closed
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    expect(text).toContain(': poll');
    const t0 = Date.now();
    const r = await postEvent(url, { topic: 'codex.intent', path: '/intake', body: JSON.stringify(ideaSpec({ id: 'lm-dash', repository: 'local/sample' })) });
    expect(r.status).toBe(202);
    while (!text.includes('event: change') && Date.now() - t0 < 5000) await new Promise((res2) => setTimeout(res2, 20));
    expect(text).toContain('event: change');
    expect(Date.now() - t0).toBeLessThan(2000);
    const s0 = Date.now();
    const code = await stop(local, 'SIGINT');
    expect(code).toBe(0);
    expect(Date.now() - s0).toBeLessThan(15_000);
    ac.abort();
    await reading;
  }, 60_000);
});
