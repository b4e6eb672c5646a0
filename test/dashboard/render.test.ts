// The dashboard's pure pieces, table-driven: the DAG's layers and its collapse past 200
// nodes, escaping of hostile text, the filters' parsing, the trace id of a traceparent.
import { describe, expect, it } from 'vitest';
import { COLLAPSE_AT, layers, renderDag, type DagTask } from '../../shared/dashboard/dag.js';
import { parseList } from '../../shared/dashboard/filters.js';
import { esc, h, prefersHtml } from '../../shared/dashboard/html.js';
import { traceIdOf } from '../../shared/dashboard/links.js';
import { renderTimeline } from '../../shared/dashboard/timeline.js';
import { withLifecycleOrder } from '../../shared/dashboard/idea.js';
import { ValidationError } from '../../shared/errors/index.js';

const task = (key: string, dependsOn: string[] = [], state = 'pending', stage = 'implementation'): DagTask => ({ key, stage, state, title: key, dependsOn });

describe('the plan DAG', () => {
  it('puts each task one layer right of its deepest dependency', () => {
    const l = layers([task('a'), task('b', ['a']), task('c', ['a', 'b']), task('d'), task('e', ['missing'])]);
    expect(Object.fromEntries(l)).toEqual({ a: 0, b: 1, c: 2, d: 0, e: 0 });
  });

  it('survives a cycle (the plan validator refuses them; the page must still render)', () => {
    expect(() => layers([task('a', ['b']), task('b', ['a'])])).not.toThrow();
  });

  it('draws every task up to 200, with state classes and edges', () => {
    const tasks = [task('a', [], 'succeeded'), task('b', ['a'], 'running'), task('c', ['b'], 'failed')];
    const svg = renderDag(tasks, false, 'x').html;
    expect(svg.match(/<g class="task"/g)).toHaveLength(3);
    expect(svg.match(/class="edge"/g)).toHaveLength(2);
    expect(svg).toContain('node f-succeeded');
    expect(svg).toContain('node f-failed');
  });

  it('collapses past 200 tasks into layer × stage groups, unless asked for every node', () => {
    const tasks = Array.from({ length: COLLAPSE_AT + 300 }, (_, i) => task(`t${i}`, i ? [`t${Math.floor(i / 2)}`] : [], i % 3 ? 'succeeded' : 'running'));
    const collapsed = renderDag(tasks, false, '11111111-1111-4111-8111-111111111111').html;
    expect(collapsed).toContain('class="plan collapsed"');
    expect(collapsed.match(/<g class="group"/g)!.length).toBeLessThan(20);
    expect(collapsed).toContain('idea?id=11111111-1111-4111-8111-111111111111&amp;dag=all');
    const full = renderDag(tasks, true, 'x').html;
    expect(full.match(/<g class="task"/g)).toHaveLength(COLLAPSE_AT + 300);
  });

  it('escapes what a plan holds', () => {
    const svg = renderDag([{ key: 'k', stage: 'implementation', state: 'pending', title: '<script>alert(1)</script>"', dependsOn: [] }], false, 'x').html;
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
  });
});

describe('html', () => {
  it.each([
    ['<b>&"\'', '&lt;b&gt;&amp;&quot;&#39;'],
    ['a\u0000b', 'a\uFFFDb'],
    ['\uD800x', '\uFFFDx'],
    ['{{constructor}}', '{{constructor}}'],
    ['😀', '😀'],
  ])('escapes %j', (input, out) => expect(esc(input)).toBe(out));

  it('interpolates fragments as they are and everything else escaped', () => {
    expect(h`<p>${'<i>'}${h`<b>${'&'}</b>`}${[1, '<']}</p>`.html).toBe('<p>&lt;i&gt;<b>&amp;</b>1&lt;</p>');
  });

  it.each([
    ['text/html,application/xhtml+xml,*/*;q=0.8', true],
    ['application/json', false],
    ['*/*', false],
    [undefined, false],
    ['application/json, text/html', false],
  ])('Accept %j prefers HTML: %j', (accept, html) => expect(prefersHtml(accept)).toBe(html));
});

describe('filters', () => {
  it.each([
    ['', { state: 'active', limit: 50 }],
    ['state=all&repository=Acme/Web&label=ui&q=%20login%20', { state: 'all', repository: 'acme/web', label: 'ui', text: 'login', limit: 50 }],
    ['state=blocked&limit=10', { state: 'blocked', limit: 10 }],
  ])('parses %j', (q, out) => expect(parseList(new URLSearchParams(q))).toEqual(out));

  it.each([
    ['q=%ZZ', ['q']],
    ['q=a%00', ['q']],
    ['state={{', ['state']],
    ['state=all&state=all', ['state']],
    ['label=%ED%A0%80', ['label']],
    [`q=${'x'.repeat(201)}`, ['q']],
    ['limit=500&cursor=abc&colour=1', ['colour', 'cursor', 'limit']],
  ])('refuses %j, naming every problem', (q, paths) => {
    try {
      parseList(new URLSearchParams(q));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(paths);
    }
  });
});

describe('links and the timeline', () => {
  it.each([
    ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '0af7651916cd43dd8448eb211c80319c'],
    ['00-00000000000000000000000000000000-b7ad6b7169203331-01', undefined],
    ['garbage', undefined],
    [null, undefined],
  ])('trace id of %j', (tp, id) => expect(traceIdOf(tp)).toBe(id));

  it('draws each attempt of each task as a bar linking to its run, and the monitoring window after the deploy', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const svg = renderTimeline(
      [{ id: 'a', key: 'impl', stage: 'implementation' }, { id: 'b', key: 'deploy-1', stage: 'deploy' }],
      [
        { id: 'r1', taskId: 'a', attempt: 1, status: 'failed', queuedAt: at(0), startedAt: at(1), completedAt: at(10) },
        { id: 'r2', taskId: 'a', attempt: 2, status: 'succeeded', queuedAt: at(11), startedAt: at(12), completedAt: at(20) },
        { id: 'r3', taskId: 'b', attempt: 1, status: 'succeeded', queuedAt: at(21), startedAt: at(22), completedAt: at(30) },
      ],
      { reviewCycles: 1, monitoringUntil: at(60), deployedVersion: 'v1' },
      t0 + 100_000,
    ).html;
    expect(svg.match(/href="run\?id=r\d"/g)).toHaveLength(3);
    expect(svg).toContain('f-failed');
    expect(svg).toContain('monitoring window');
    expect(svg).toContain('1 task(s) retried; 1 review cycle(s); deployed v1');
  });
});

describe('the plan DAG in lifecycle order', () => {
  it('planning first, implementation by its own edges, then review, integration and deploy after the stage before', () => {
    const t = (key: string, stage: string, dependsOn: string[] = []) => ({ key, stage, state: 'pending', title: key, dependsOn });
    const tasks = withLifecycleOrder([
      t('planning', 'planning'), t('a', 'implementation'), t('b', 'implementation', ['a']), t('c', 'implementation'),
      t('review-1', 'review'), t('integration-1', 'integration'), t('deploy-1', 'deploy'),
    ]);
    expect(Object.fromEntries(layers(tasks))).toEqual({ planning: 0, a: 1, c: 1, b: 2, 'review-1': 3, 'integration-1': 4, 'deploy-1': 5 });
    expect([...tasks.find((x) => x.key === 'review-1')!.dependsOn].sort()).toEqual(['b', 'c']);
  });
});
