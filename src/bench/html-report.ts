/**
 * @module bench/html-report
 * The benchmark's HTML report: one self-contained file (no script, no external asset; images as
 * data URIs) with each endpoint's figures and the images of every endpoint side by side for the same
 * prompt, size, seed and LoRAs.
 */
import type { BenchRequest } from './request-set.js';
import type { EndpointResult, EndpointSummary } from './run-bench.js';
import type { Percentiles } from './stats.js';
import type { Endpoint } from './task-client.js';

export interface ReportInput {
  readonly createdAt: Date;
  readonly requests: readonly BenchRequest[];
  readonly results: readonly EndpointResult[];
  /** Per endpoint (same order as results), per request index: the first output as a data URI. */
  readonly images: readonly (readonly (string | undefined)[])[];
  /** Settings worth printing (concurrency, count, retry rules…). */
  readonly settings: Readonly<Record<string, string | number>>;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** @example escapeHtml('<b>"x"</b>') // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;' */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : `${Math.round(v)}`);

/** `https://api.wavespeed.ai` (no key shown, ever). */
const label = (e: Endpoint) => escapeHtml(e.base);

/** How the queue row is labelled, by where its figures come from (task-client's module header). */
export const QUEUE_LABELS: Readonly<Record<NonNullable<EndpointSummary['queueSource']>, string>> = {
  task: 'queue (task timings.queue)',
  client: 'queue (client-measured: submit → first “processing” poll, else end to end − inference)',
  mixed: 'queue (task timings.queue where reported, else client-measured)',
};

const STAGES = [
  ['submit', 'submit (POST round trip)'],
  ['queue', QUEUE_LABELS.task],
  ['inference', 'inference (task timings.inference)'],
  ['endToEnd', 'end to end (submit → final)'],
] as const;

function latencyTable(result: EndpointResult): string {
  const source = result.summary.queueSource;
  const rows = STAGES.map(([key, label]) => {
    const name = key === 'queue' && source ? QUEUE_LABELS[source] : label;
    const p: Percentiles | undefined = result.summary.latency[key];
    const cells = p ? [p.p50, p.p90, p.p99, p.mean, p.min, p.max].map(ms) : ['–', '–', '–', '–', '–', '–'];
    return `<tr><th scope="row">${name}</th>${cells.map((c) => `<td>${c}</td>`).join('')}<td>${p?.count ?? 0}</td></tr>`;
  });
  return `<table class="latency"><caption>Latency, ms</caption><thead><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>mean</th><th>min</th><th>max</th><th>n</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function summaryBlock(result: EndpointResult): string {
  const s = result.summary;
  const failures = Object.entries(s.failures)
    .map(([kind, n]) => `<li><code>${escapeHtml(kind)}</code>: ${n}</li>`)
    .join('');
  const errors = result.runs
    .filter((r) => !r.ok && r.error)
    .slice(0, 5)
    .map((r) => `<li>${escapeHtml(r.error as string)}</li>`)
    .join('');
  return `<section class="endpoint"><h2>${label(result.endpoint)}</h2>
<p>model <code>${escapeHtml(result.endpoint.model)}</code></p>
<table class="totals"><tbody>
<tr><th scope="row">requests</th><td>${s.requests}</td></tr>
<tr><th scope="row">completed</th><td>${s.completed}</td></tr>
<tr><th scope="row">failed</th><td>${s.failed}</td></tr>
<tr><th scope="row">retries</th><td>${s.retries}</td></tr>
<tr><th scope="row">wall time, s</th><td>${s.wallSeconds.toFixed(2)}</td></tr>
<tr><th scope="row">throughput, requests/s</th><td>${s.requestsPerSecond.toFixed(3)}</td></tr>
<tr><th scope="row">throughput, images/s</th><td>${s.imagesPerSecond.toFixed(3)}</td></tr>
</tbody></table>
${latencyTable(result)}
<h3>Failures by kind</h3>${failures ? `<ul>${failures}</ul>` : '<p>none</p>'}
${errors ? `<details><summary>first errors</summary><ul>${errors}</ul></details>` : ''}
</section>`;
}

function describeRequest(r: BenchRequest): string {
  const i = r.input;
  const loras = Array.isArray(i.loras)
    ? (i.loras as { path?: unknown; scale?: unknown }[]).map((l) => `${l.path}:${l.scale ?? 1}`).join(' + ')
    : '';
  return `<p class="prompt">${escapeHtml(String(i.prompt ?? ''))}</p>
<p class="params">size ${escapeHtml(String(i.size ?? 'default'))} · seed ${escapeHtml(String(i.seed ?? ''))} · steps ${escapeHtml(String(i.num_inference_steps ?? 'default'))}${loras ? ` · LoRAs ${escapeHtml(loras)}` : ''}</p>`;
}

function gallery(o: ReportInput): string {
  const head = o.results.map((r) => `<th scope="col">${label(r.endpoint)}</th>`).join('');
  const rows = o.requests.map((req) => {
    const cells = o.results.map((result, e) => {
      const run = result.runs[req.index];
      const image = o.images[e]?.[req.index];
      const caption = run?.ok
        ? `end to end ${ms(run.endToEndMs)} ms · inference ${ms(run.inferenceMs)} ms`
        : `failed: ${escapeHtml(run?.failure ?? 'not run')}`;
      const img = image
        ? `<img src="${escapeHtml(image)}" alt="${escapeHtml(`request ${req.index + 1} on ${result.endpoint.base}`)}" loading="lazy">`
        : '<div class="missing">no image</div>';
      return `<td><figure>${img}<figcaption>${caption}</figcaption></figure></td>`;
    });
    return `<tr><th scope="row">#${req.index + 1}${describeRequest(req)}</th>${cells.join('')}</tr>`;
  });
  return `<table class="gallery"><thead><tr><th scope="col">request</th>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right;vertical-align:top}
th[scope=row]{text-align:left}caption{text-align:left;font-weight:600}
.endpoints{display:flex;gap:2rem;flex-wrap:wrap}.endpoint{flex:1 1 0;min-width:30rem}.gallery th[scope=row]{max-width:18rem;font-weight:normal}
.gallery img{max-width:384px;height:auto;display:block}.prompt{font-weight:600;margin:.2rem 0}.params{color:#555;margin:0}
figure{margin:0}figcaption{color:#555;font-size:12px}.missing{width:256px;height:64px;background:#eee;display:grid;place-items:center}`;

/**
 * The report as one HTML document.
 * @example await writeFile('bench-report.html', htmlReport({ createdAt: new Date(), requests, results, images, settings }));
 */
export function htmlReport(o: ReportInput): string {
  const settings = Object.entries(o.settings)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('');
  const title = `flux-serve bench: ${o.results.map((r) => r.endpoint.base).join(' vs ')}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(o.createdAt.toISOString())}</p>
<table class="settings"><caption>Settings</caption><tbody>${settings}</tbody></table>
<div class="endpoints">${o.results.map(summaryBlock).join('')}</div>
<h2>Images, same prompt, size and seed</h2>
${gallery(o)}
</body></html>
`;
}
