// runCommand against real child processes: output capping, not-found programs, timeouts that
// must take the whole process group (grandchildren included) down, ticks and aborts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { incompleteUtf8Start, KILL_GRACE_MS, runCommand } from '../../../shared/agent/process.js';
import { formatUsageLine, parseUsage } from '../../../shared/agent/usage.js';

const dir = mkdtempSync(join(tmpdir(), 'facteur-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const node = process.execPath;

// A forced collection before each memory sample, so garbage awaiting GC is not counted.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether `pid` still runs. A zombie counts as dead: PID 1 here does not reap orphans. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('runCommand', () => {
  it('returns the exit code and interleaved output of a real process', async () => {
    const r = await runCommand([node, '-e', 'console.log("out"); console.error("err"); process.exit(3)'], { cwd: dir, timeoutMs: 10_000 });
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.timedOut).toBe(false);
    expect(r.output).toContain('out\n');
    expect(r.output).toContain('err\n');
    expect(r.outputBytes).toBe(8);
    expect(r.truncated).toBe(false);
  });

  it('passes arguments without a shell and feeds stdin', async () => {
    const hostile = '$(touch pwned); `id` | cat > x';
    const r = await runCommand([node, '-e', 'process.stdin.pipe(process.stdout); console.error(process.argv[1])', hostile], {
      cwd: dir,
      timeoutMs: 10_000,
      stdin: 'from stdin\n',
    });
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain(hostile);
    expect(r.output).toContain('from stdin');
    expect(() => readFileSync(join(dir, 'pwned'))).toThrow();
  });

  it('keeps only the tail of 50 MB of output, with memory bounded and every byte counted', async () => {
    // 50 × 1 MiB lines of one repeated letter each, then an end marker; ~52 MB in all.
    const script = `
      const line = (c) => c.repeat(1024 * 1024 - 1) + '\\n';
      let i = 0;
      (function write() {
        while (i < 50) { if (!process.stdout.write(line(String.fromCharCode(97 + (i++ % 26))))) return process.stdout.once('drain', write); }
        process.stdout.write('THE END é\\n');
      })();`;
    let peak = 0;
    const sample = () => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    };
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const r = await runCommand([node, '-e', script], { cwd: dir, timeoutMs: 60_000, capBytes: 256 * 1024, onTick: sample, tickMs: 10 });
    expect(r.exitCode).toBe(0);
    expect(r.outputBytes).toBe(50 * 1024 * 1024 + Buffer.byteLength('THE END é\n'));
    expect(r.truncated).toBe(true);
    expect(r.output.endsWith('THE END é\n')).toBe(true);
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(256 * 1024);
    expect(r.output.slice(0, 100)).toBe('x'.repeat(100)); // the 50th line's letter (index 49 → 'x')
    // Keeping everything would hold ≥ 50 MB of buffers; the tail needs the cap plus a chunk.
    expect(peak - before).toBeLessThan(12 * 1024 * 1024);
  }, 60_000);

  it('keeps the output valid UTF-8 where the cap cuts a character', async () => {
    const r = await runCommand([node, '-e', 'process.stdout.write("é".repeat(1000))'], { cwd: dir, timeoutMs: 10_000, capBytes: 101 });
    expect(r.outputBytes).toBe(2000);
    expect(r.truncated).toBe(true);
    expect(r.output).toBe('é'.repeat(50));
  });

  it('reports a program that does not exist as a result, exit 127', async () => {
    const r = await runCommand(['facteur-no-such-program-x', '--version'], { cwd: dir, timeoutMs: 10_000 });
    expect(r.exitCode).toBe(127);
    expect(r.output).toMatch(/^facteur: command not found: facteur-no-such-program-x$/m);
    expect(r.timedOut).toBe(false);
  });

  it('reports an argument it cannot pass (a NUL byte) as a result, exit 126', async () => {
    const r = await runCommand([node, '-e', 'a\u0000b'], { cwd: dir, timeoutMs: 10_000 });
    expect(r.exitCode).toBe(126);
    expect(r.output).toMatch(/^facteur: cannot run /);
  });

  it('reports a missing working directory as a result', async () => {
    const r = await runCommand([node, '-e', '0'], { cwd: join(dir, 'nope'), timeoutMs: 10_000 });
    expect(r.exitCode).toBe(127);
    expect(r.output).toContain('working directory not found');
  });

  it('kills the whole process group on timeout, grandchildren included, within timeout + grace', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    // The grandchild ignores SIGTERM, so only the SIGKILL to the group can end it.
    const grandchild = `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)`;
    const script = `
      const { spawn } = require('node:child_process');
      const g = spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'ignore' });
      require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
      console.log('started');
      setInterval(() => {}, 1000);`;
    const timeoutMs = 1_500;
    const started = Date.now();
    const r = await runCommand([node, '-e', script], { cwd: dir, timeoutMs });
    const took = Date.now() - started;
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGTERM');
    expect(r.output).toContain('started');
    expect(took).toBeLessThan(timeoutMs + KILL_GRACE_MS + 1_500);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 100));
    expect(alive(pid)).toBe(false);
  }, 20_000);

  it('does not wait for a background process that keeps the pipes open after the leader exits', async () => {
    const pidFile = join(dir, 'daemon.pid');
    const script = `
      const { spawn } = require('node:child_process');
      const d = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'inherit' });
      require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(d.pid));
      process.exit(0);`;
    const started = Date.now();
    const r = await runCommand([node, '-e', script], { cwd: dir, timeoutMs: 20_000 });
    expect(r.exitCode).toBe(0);
    expect(r.timedOut).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    await new Promise((res) => setTimeout(res, 100));
    expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('calls onTick while the command runs', async () => {
    let ticks = 0;
    await runCommand([node, '-e', 'setTimeout(() => {}, 400)'], { cwd: dir, timeoutMs: 10_000, tickMs: 50, onTick: () => void ticks++ });
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it('survives an onTick that throws or rejects', async () => {
    const r = await runCommand([node, '-e', 'setTimeout(() => {}, 200)'], {
      cwd: dir,
      timeoutMs: 10_000,
      tickMs: 20,
      onTick: () => {
        throw new Error('heartbeat down');
      },
    });
    expect(r.exitCode).toBe(0);
  });

  it("gives onTick the output so far: an agent's usage printed mid-run reaches a heartbeat, whose stop kills the group", async () => {
    // what facteur-agent does (shared/agent/steps.ts, cli.ts): parse the usage on each tick, abort on a stop answer
    const ac = new AbortController();
    const seen: unknown[] = [];
    const line = formatUsageLine({ inputTokens: 1200, outputTokens: 300, costUsd: 0.42 });
    const r = await runCommand([node, '-e', `console.log(${JSON.stringify(line)}); setInterval(() => {}, 1000)`], {
      cwd: dir, timeoutMs: 20_000, tickMs: 30, signal: ac.signal,
      onTick: (outputSoFar) => {
        const usage = parseUsage(outputSoFar());
        if (usage) {
          seen.push(usage);
          ac.abort(); // the heartbeat's answer said stop
        }
      },
    });
    expect(seen[0]).toEqual({ inputTokens: 1200, outputTokens: 300, costUsd: 0.42 });
    expect(r.aborted).toBe(true);
    expect(r.signal).toBe('SIGTERM');
  });

  it('kills the group when the signal is aborted, and does not start when it already was', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await runCommand([node, '-e', 'setInterval(() => {}, 1000)'], { cwd: dir, timeoutMs: 20_000, signal: ac.signal });
    expect(r.aborted).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.signal).toBe('SIGTERM');
    const again = await runCommand([node, '-e', '0'], { cwd: dir, timeoutMs: 20_000, signal: ac.signal });
    expect(again.aborted).toBe(true);
    expect(again.exitCode).toBeNull();
  });
});

describe('incompleteUtf8Start', () => {
  it.each([
    [Buffer.from('abc'), 3],
    [Buffer.from('aé'), 3],
    [Buffer.from('aé').subarray(0, 2), 1],
    [Buffer.from('a€').subarray(0, 3), 1],
    [Buffer.from('a😀').subarray(0, 4), 1],
    [Buffer.from('a😀'), 5],
    [Buffer.alloc(0), 0],
  ])('%j → %i', (buf, expected) => {
    expect(incompleteUtf8Start(buf)).toBe(expected);
  });
});
