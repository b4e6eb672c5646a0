// Small server-rendered SVG charts: one series of daily values as bars (counts, spend) or
// a line (rates, latencies), with its axis labels. Styled by app.css classes.
import { h, raw, type Html } from './html.js';

export interface Point {
  /** The day, `YYYY-MM-DD`. */
  readonly day: string;
  /** Null: nothing to measure that day (drawn as a gap, not as zero). */
  readonly value: number | null;
}

const W = 420;
const H = 150;
const L = 44;
const B = 22;

export function chart(title: string, points: readonly Point[], kind: 'bar' | 'line', fmt: (n: number) => string): Html {
  const values = points.map((p) => p.value).filter((v): v is number => v !== null);
  const max = Math.max(...values, 0) || 1;
  const step = (W - L - 8) / Math.max(1, points.length);
  const y = (v: number) => H - B - (v / max) * (H - B - 12);
  const parts: string[] = [
    `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - 4}" y2="${H - B}"/>`,
    `<line class="grid-line" x1="${L}" y1="${y(max).toFixed(1)}" x2="${W - 4}" y2="${y(max).toFixed(1)}"/>`,
    h`<text x="${L - 4}" y="${y(max) + 4}" text-anchor="end">${fmt(max)}</text><text x="${L - 4}" y="${H - B + 4}" text-anchor="end">0</text>`.html,
  ];
  if (kind === 'bar') {
    points.forEach((p, i) => {
      if (p.value === null) return;
      const top = y(p.value);
      parts.push(h`<rect class="bar" x="${(L + i * step + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, step - 2).toFixed(1)}" height="${(H - B - top).toFixed(1)}"><title>${p.day}: ${fmt(p.value)}</title></rect>`.html);
    });
  } else {
    let d = '';
    points.forEach((p, i) => {
      if (p.value === null) return;
      const px = L + i * step + step / 2;
      d += `${d && points[i - 1]?.value !== null ? 'L' : 'M'}${px.toFixed(1)},${y(p.value).toFixed(1)} `;
      parts.push(h`<circle class="bar" cx="${px.toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="2.5"><title>${p.day}: ${fmt(p.value)}</title></circle>`.html);
    });
    if (d) parts.unshift(`<path class="line" d="${d.trim()}"/>`);
  }
  const first = points[0]?.day.slice(5) ?? '';
  const last = points[points.length - 1]?.day.slice(5) ?? '';
  parts.push(h`<text x="${L}" y="${H - 6}">${first}</text><text x="${W - 4}" y="${H - 6}" text-anchor="end">${last}</text>`.html);
  const latest = [...points].reverse().find((p) => p.value !== null);
  return h`<figure class="card chart" data-chart="${title}"><figcaption><b>${title}</b> <span class="muted">${latest?.value != null ? `latest ${fmt(latest.value)}` : 'no data yet'}</span></figcaption>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}">${raw(parts.join(''))}</svg></figure>`;
}
