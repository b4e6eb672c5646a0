// The dashboard's only script and stylesheet, served as files from `/ui/app.js` and
// `/ui/app.css` (the CSP allows scripts and styles from this origin only, nothing inline).
// The script is progressive enhancement: every page works without it; with it, a page
// re-reads itself when the live stream says its idea (or anything, for lists) changed.
import { createHash } from 'node:crypto';

const SCRIPT = `'use strict';
(function () {
  var body = document.body;
  var topic = body.getAttribute('data-live');
  var dot = document.getElementById('live');
  if (!topic || typeof EventSource === 'undefined') return;
  var busy = false, again = false, timer = null;
  // The hint only says "something changed": the page fetches itself again and swaps its
  // main element, so a lost hint never leaves a wrong state on screen, only an old one.
  function refresh() {
    if (busy) { again = true; return; }
    var active = document.activeElement;
    if (active && active.closest && active.closest('main form') && active.tagName !== 'BUTTON') { again = true; setTimeout(refresh, 1000); return; }
    busy = true;
    fetch(location.href, { headers: { 'accept': 'text/html' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('main');
        var main = document.getElementById('main');
        if (fresh && main) main.innerHTML = fresh.innerHTML;
        body.setAttribute('data-refreshed', String(Number(body.getAttribute('data-refreshed') || '0') + 1));
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  function hint() { if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, 50); }
  var url = 'events' + (topic === '*' ? '' : '?idea=' + encodeURIComponent(topic));
  var source = new EventSource(url);
  source.addEventListener('open', function () { if (dot) dot.className = 'live-dot on'; });
  source.addEventListener('error', function () { if (dot) dot.className = 'live-dot'; });
  source.addEventListener('change', hint);
  // after a reconnect the server sends "resync": whatever happened meanwhile is re-read
  source.addEventListener('resync', hint);
})();
`;

const STYLE = `
:root{--bg:#f7f7f5;--fg:#1d1d1f;--muted:#6b6b70;--line:#dcdcd8;--card:#fff;--accent:#2b59c3}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#20232a;color:#eee}
header a{color:#ddd;text-decoration:none}header nav a{margin-right:.9rem}header nav a[aria-current]{color:#fff;border-bottom:2px solid #7aa2ff}
.brand{font-weight:700;color:#fff!important;font-size:16px}.who{margin-left:auto;font-size:13px}.who.open{color:#ffd37a}.roles{color:#aaa}
.live-dot{color:#777;font-size:12px}.live-dot.on{color:#4cd964}
main{padding:1rem 1.2rem;max-width:1400px;margin:0 auto}h1{font-size:20px;margin:.2rem 0 .8rem}h2{font-size:16px;margin:1.4rem 0 .5rem}
a{color:var(--accent)}.muted{color:var(--muted)}.inline{display:inline}button.link{background:none;border:0;color:#9bb5ff;cursor:pointer;padding:0;font:inherit}
table{border-collapse:collapse;width:100%;background:var(--card)}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;margin:.6rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:.8rem}
.counts{display:flex;flex-wrap:wrap;gap:.4rem;margin:.4rem 0 .8rem}.counts a{text-decoration:none}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:12px;background:#e4e4e0;color:#333;white-space:nowrap}
.s-completed,.s-succeeded,.s-approved,.s-pass{background:#d3f2dc;color:#145a2a}
.s-running,.s-running_tasks,.s-planning,.s-qa_review,.s-integration,.s-deployment,.s-submitting{background:#d6e4ff;color:#173f8f}
.s-monitoring,.s-remediation{background:#e7dcff;color:#4b2a8f}
.s-queued,.s-ready,.s-registered,.s-plan_ready,.s-awaiting_dependencies,.s-pending{background:#eceae4;color:#555}
.s-awaiting_approval,.s-paused,.s-warn{background:#fff0c2;color:#7a5200}
.s-failed,.s-blocked,.s-rejected,.s-fail,.s-error{background:#ffd9d6;color:#8f1d14}.s-cancelled,.s-expired,.s-skip{background:#e0e0e0;color:#666}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.4rem 0}form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input,select,button{font:inherit;padding:.25rem .45rem;border:1px solid #bbb;border-radius:4px;background:#fff}
button{cursor:pointer;background:#f0f0ee}button.primary{background:var(--accent);color:#fff;border-color:var(--accent)}button.danger{background:#c0392b;color:#fff;border-color:#c0392b}
.actions{display:flex;gap:.4rem;flex-wrap:wrap;margin:.5rem 0}.pager{margin:.6rem 0}
.anchor{white-space:pre-wrap;background:#fbfaf3;border-left:3px solid #d9c98a;padding:.5rem .8rem;font-size:13px}
pre.json{background:#f3f3f0;padding:.5rem;overflow:auto;max-height:22rem;font-size:12px}
.notice{background:#fff6d6;border:1px solid #e6d28c;padding:.5rem .8rem;border-radius:4px}.error{background:#ffe5e2;border:1px solid #e0a39b;padding:.5rem .8rem;border-radius:4px}
svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#222}svg .edge{stroke:#9a9a9a;fill:none;stroke-width:1.2}
svg rect.node{stroke:#555;stroke-width:.6;rx:4}svg .axis{stroke:#bbb}svg .grid-line{stroke:#eee}
svg .line{fill:none;stroke:var(--accent);stroke-width:2}svg .bar{fill:var(--accent)}svg .area{fill:#d6e4ff}
svg .f-completed,svg .f-succeeded{fill:#8fd6a3}svg .f-running,svg .f-submitting{fill:#8fb2ff}svg .f-queued,svg .f-ready{fill:#dcdad2}
svg .f-pending{fill:#f1f0ea}svg .f-awaiting_approval,svg .f-paused{fill:#ffd866}svg .f-failed,svg .f-blocked{fill:#ff9c92}svg .f-cancelled{fill:#c8c8c8}
.dag{overflow:auto;background:#fff;border:1px solid var(--line);border-radius:6px;padding:.4rem}
.bar-cost{height:8px;background:#e4e4e0;border-radius:4px;overflow:hidden}.bar-cost span{display:block;height:100%;background:#f0a040}
.w0{width:0}.w10{width:10%}.w20{width:20%}.w30{width:30%}.w40{width:40%}.w50{width:50%}.w60{width:60%}.w70{width:70%}.w80{width:80%}.w90{width:90%}.w100{width:100%}
details summary{cursor:pointer}.signin{max-width:28rem;margin:3rem auto}.signin input{width:100%;margin:.3rem 0 .8rem}
`;

const hash = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 12);

/** Changes whenever either file does: pages link `app.js?v=…`, so a cached old file is never used. */
export const ASSET_VERSION = hash(SCRIPT + STYLE);

export const ASSETS: Readonly<Record<'app.js' | 'app.css', { readonly type: string; readonly body: string }>> = Object.freeze({
  'app.js': { type: 'text/javascript; charset=utf-8', body: SCRIPT },
  'app.css': { type: 'text/css; charset=utf-8', body: STYLE },
});
