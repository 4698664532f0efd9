// The flux-serve playground: a form over the server's own hosted-API routes (submit, SSE events,
// uploads, history), no framework and no build step, so the page is three small static files.

const MAX_LORAS = 5;
const KEY_STORAGE = 'flux-serve-api-key';
const $ = (selector) => document.querySelector(selector);

let apiKey = localStorage.getItem(KEY_STORAGE) ?? '';
/** The hosted id this server answers (a dev model answers flux-dev-lora), from /api/v3/models. */
let model = 'wavespeed-ai/flux-schnell-lora';
/** The uploaded input image: its server URL and natural size. */
let inputImage = null;
let maskPainted = false;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  return apiKey ? { ...extra, authorization: `Bearer ${apiKey}` } : extra;
}

async function api(method, path, body) {
  const isForm = body instanceof FormData;
  const res = await fetch(path, {
    method,
    headers: headers(body && !isForm ? { 'content-type': 'application/json' } : {}),
    body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
  });
  const envelope = await res.json().catch(() => ({ message: `HTTP ${res.status}` }));
  if (res.status === 401) $('#key-form').hidden = false;
  if (!res.ok) throw new HttpError(res.status, envelope.message ?? `HTTP ${res.status}`);
  return envelope.data;
}

/**
 * An output URL as this page can load it. The server makes them absolute from its public base URL,
 * which is wrong for this browser when the server listens on 0.0.0.0 without FLUX_SERVE_PUBLIC_URL
 * (http://0.0.0.0:8080/…) or is reached through another name; the page is served by the same
 * server, so its own /outputs/ path always works. Other URLs (a CDN, data URIs) are kept.
 */
function pageUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    if (parsed.protocol.startsWith('http') && parsed.pathname.startsWith('/outputs/'))
      return `${parsed.pathname}${parsed.search}`;
  } catch {
    // Not a URL: shown as it came.
  }
  return url;
}

function setStatus(text, isError = false) {
  const status = $('#status');
  status.textContent = text;
  status.classList.toggle('error', isError);
}

// ---- LoRAs ----------------------------------------------------------------------------------

function addLora(path = '', scale = 1) {
  const rows = $('#loras');
  if (rows.children.length >= MAX_LORAS) return;
  const row = $('#lora-row').content.firstElementChild.cloneNode(true);
  row.querySelector('.lora-path').value = path;
  const slider = row.querySelector('.lora-scale');
  const shown = row.querySelector('.lora-scale-value');
  slider.value = String(scale);
  shown.textContent = Number(scale).toFixed(2);
  slider.addEventListener('input', () => {
    shown.textContent = Number(slider.value).toFixed(2);
  });
  row.querySelector('.remove-lora').addEventListener('click', () => {
    row.remove();
    $('#add-lora').disabled = false;
  });
  rows.append(row);
  $('#add-lora').disabled = rows.children.length >= MAX_LORAS;
}

function loras() {
  return [...document.querySelectorAll('#loras .lora')]
    .map((row) => ({
      path: row.querySelector('.lora-path').value.trim(),
      scale: Number(row.querySelector('.lora-scale').value),
    }))
    .filter((l) => l.path !== '');
}

/** The served model and its step range: schnell 1–8 (4), dev 1–50 (28). */
async function loadModel() {
  const [served] = await api('GET', '/api/v3/models');
  if (!served) return;
  model = served.model_id;
  // A test model's images are noise: say so above everything, not in a log line.
  Object.assign($('#test-model'), {
    hidden: !served.test_model,
    textContent: served.test_model ? served.description : '',
  });
  const steps = served.api_schema.properties.num_inference_steps;
  Object.assign($('#steps'), { min: steps.minimum, max: steps.maximum, value: steps.default });
}

async function loadLoraNames() {
  const names = await api('GET', '/api/v3/loras').catch(() => []);
  $('#lora-names').replaceChildren(
    ...names.map((l) => Object.assign(document.createElement('option'), { value: l.name })),
  );
}

// ---- input image and mask -------------------------------------------------------------------

/** An image's size as the form takes it: 256–1536 per side, aspect kept, in the form's steps of 16. */
function fitSize(width, height) {
  const scale = Math.max(Math.min(1, 1536 / Math.max(width, height)), 256 / Math.min(width, height));
  const side = (v) => Math.min(1536, Math.max(256, Math.round((v * scale) / 16) * 16));
  return [side(width), side(height)];
}

async function chooseImage(file) {
  const form = new FormData();
  form.append('file', file, file.name);
  setStatus('uploading the image…');
  const uploaded = await api('POST', '/api/v3/media/upload/binary', form);
  const preview = $('#image-preview');
  preview.src = URL.createObjectURL(file);
  await preview.decode();
  const canvas = $('#mask-canvas');
  canvas.width = preview.naturalWidth;
  canvas.height = preview.naturalHeight;
  inputImage = { url: uploaded.download_url, width: preview.naturalWidth, height: preview.naturalHeight };
  // The output takes the input's shape: a 4:3 photo is not cropped square under the mask drawn on it.
  const [width, height] = fitSize(preview.naturalWidth, preview.naturalHeight);
  $('#width').value = String(width);
  $('#height').value = String(height);
  maskPainted = false;
  $('#mask-file').value = '';
  $('#image-editor').hidden = false;
  setStatus('image ready: paint a mask to inpaint, or generate for image-to-image');
}

function removeImage() {
  inputImage = null;
  maskPainted = false;
  $('#image-file').value = '';
  $('#mask-file').value = '';
  $('#image-editor').hidden = true;
}

function setUpMaskPainting() {
  const canvas = $('#mask-canvas');
  const ctx = canvas.getContext('2d');
  let drawing = false;
  const point = (e) => {
    const box = canvas.getBoundingClientRect();
    return [
      ((e.clientX - box.left) * canvas.width) / box.width,
      ((e.clientY - box.top) * canvas.height) / box.height,
    ];
  };
  let last = null;
  // A stroke is a line from the previous point, so a fast drag leaves no gaps between events.
  const paint = (e) => {
    if (!drawing) return;
    const [x, y] = point(e);
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    ctx.strokeStyle = 'white';
    ctx.lineWidth = Number($('#brush').value) * scale;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...(last ?? [x, y]));
    ctx.lineTo(x, y);
    ctx.stroke();
    last = [x, y];
    maskPainted = true;
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  });
  canvas.addEventListener('pointermove', paint);
  canvas.addEventListener('pointerup', () => {
    drawing = false;
  });
  $('#clear-mask').addEventListener('click', () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    maskPainted = false;
  });
  // A mask file instead of painting (keyboard users, masks made elsewhere): scaled onto the canvas.
  $('#mask-file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    const mask = await createImageBitmap(file).catch(() => null);
    if (!mask) return setStatus(`${file.name} is not an image this browser can read`, true);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(mask, 0, 0, canvas.width, canvas.height);
    maskPainted = true;
    setStatus('mask ready: generate to inpaint');
  });
}

/** The painted mask as the API wants it: white = repaint on black, at the input image's size. */
function maskDataUri() {
  const source = $('#mask-canvas');
  const out = document.createElement('canvas');
  out.width = source.width;
  out.height = source.height;
  const ctx = out.getContext('2d');
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(source, 0, 0);
  return out.toDataURL('image/png');
}

// ---- generation -----------------------------------------------------------------------------

function requestBody() {
  const body = {
    prompt: $('#prompt').value,
    size: `${$('#width').value}*${$('#height').value}`,
    num_inference_steps: Number($('#steps').value),
    num_images: Number($('#num-images').value),
    seed: Number($('#seed').value),
    output_format: $('#format').value,
    loras: loras(),
  };
  if (inputImage) {
    body.image = inputImage.url;
    body.strength = Number($('#strength').value);
    if (maskPainted) body.mask_image = maskDataUri();
  }
  return body;
}

const FINAL = new Set(['completed', 'failed', 'cancelled', 'timeout', 'deleted']);
/** Result polls when the event stream is lost, ms. */
const POLL_MS = 500;

/** Reads the task's Server-Sent Events until it is final (fetch, so the key header can be sent). */
async function streamEvents(id, onTask) {
  const res = await fetch(`/api/v3/predictions/${id}/events`, { headers: headers() });
  if (!res.ok || !res.body) throw new HttpError(res.status, `events: HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data) {
        last = JSON.parse(data.slice(6));
        onTask(last);
      }
      end = buffer.indexOf('\n\n');
    }
  }
}

/**
 * The task once final: from its event stream, or, when the stream drops first (a proxy's idle
 * timeout, a network change), by polling its result, as any client would.
 */
async function follow(id, onTask) {
  const last = await streamEvents(id, onTask).catch(() => null);
  if (last && FINAL.has(last.status)) return last;
  for (;;) {
    const task = await api('GET', `/api/v3/predictions/${id}/result`);
    if (FINAL.has(task.status)) return task;
    onTask(task);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** What the worker is doing, as the status line says it. */
function stageText(p) {
  if (p.stage === 'encode') return 'encoding the prompt';
  if (p.stage === 'decode') return `decoding — image ${p.step} of ${p.total}`;
  return `denoising — step ${p.step} of ${p.total}`;
}

function showProgress(task) {
  const bar = $('#progress');
  bar.hidden = false;
  if (task.status === 'created') {
    setStatus(`queued${task.queue_position ? ` — position ${task.queue_position}` : ''}`);
    bar.removeAttribute('value');
  } else if (task.status === 'processing') {
    const p = task.progress;
    setStatus(p ? stageText(p) : 'processing');
    if (p) bar.value = p.step / p.total;
  }
}

function reuse(settings) {
  if (settings.prompt !== undefined) $('#prompt').value = settings.prompt;
  if (settings.seed !== undefined && settings.seed !== null) $('#seed').value = String(settings.seed);
  if (settings.size) {
    const [w, h] = String(settings.size).split(/[*xX]/);
    $('#width').value = w;
    $('#height').value = h;
  }
  if (settings.num_inference_steps) $('#steps').value = String(settings.num_inference_steps);
  if (settings.num_images) $('#num-images').value = String(settings.num_images);
  if (settings.output_format) $('#format').value = settings.output_format;
  if (typeof settings.strength === 'number') {
    $('#strength').value = String(settings.strength);
    $('#strength-value').textContent = settings.strength.toFixed(2);
  }
  if (Array.isArray(settings.loras)) {
    $('#loras').replaceChildren();
    for (const l of settings.loras) addLora(l.path, l.scale ?? 1);
    $('#add-lora').disabled = $('#loras').children.length >= MAX_LORAS;
  }
  $('#prompt').focus();
}

/** A task's id as the page names it: enough to tell tasks apart, short enough to read out. */
const shortId = (id) => String(id).slice(0, 8);

/** A task's stage timings as the caption shows them, e.g. "text 12 ms · denoise 310 ms · total 402 ms". */
function timingsText(timings = {}) {
  const names = ['queue', 'lora_load', 'text', 'denoise', 'decode', 'safety', 'total'];
  return names
    .filter((n) => typeof timings[n] === 'number')
    .map((n) => `${n.replace('_', ' ')} ${Math.round(timings[n])} ms`)
    .join(' · ');
}

/** A card in the results grid for a task that is queued or running; filled in when it completes. */
function pendingCard(body) {
  const figure = Object.assign(document.createElement('figure'), { className: 'pending' });
  const bar = Object.assign(document.createElement('progress'), { max: 1 });
  bar.setAttribute('aria-label', `Progress of "${body.prompt}"`);
  const caption = Object.assign(document.createElement('figcaption'), { textContent: 'submitting…' });
  figure.append(bar, caption);
  $('#gallery').prepend(figure);
  return {
    update(task) {
      const p = task.progress;
      caption.textContent = `${body.prompt} — ${task.status === 'created' ? `queued${task.queue_position ? `, position ${task.queue_position}` : ''}` : p ? stageText(p) : 'processing'}`;
      if (p) bar.value = p.step / p.total;
      else bar.removeAttribute('value');
    },
    fail(message) {
      figure.className = 'failed';
      bar.remove();
      caption.textContent = `${body.prompt} — failed: ${message}`;
    },
    figure,
  };
}

/** Fills `figure` with a completed task's images, parameters, timings and actions. */
function fillCard(figure, task, body) {
  figure.className = '';
  figure.replaceChildren();
  const outputs = task.outputs.map(pageUrl);
  for (const [i, src] of outputs.entries()) {
    const link = Object.assign(document.createElement('a'), { href: src, target: '_blank' });
    link.append(
      Object.assign(document.createElement('img'), {
        src,
        alt: `${body.prompt} (${i + 1})`,
        className: 'result',
      }),
    );
    figure.append(link);
  }
  const caption = document.createElement('figcaption');
  const lorasText = body.loras.length
    ? ` · LoRAs ${body.loras.map((l) => `${l.path}@${l.scale}`).join(', ')}`
    : '';
  const params = `${body.prompt} — ${task.size}, ${body.num_inference_steps} steps, seed ${task.seed}${lorasText}`;
  caption.append(params, document.createElement('br'));
  caption.append(
    Object.assign(document.createElement('span'), {
      className: 'timings',
      textContent: timingsText(task.timings),
    }),
  );
  const reuseButton = Object.assign(document.createElement('button'), {
    type: 'button',
    textContent: `Reuse seed ${task.seed}`,
  });
  reuseButton.className = 'reuse-seed';
  reuseButton.addEventListener('click', () => reuse({ ...body, seed: task.seed, size: task.size }));
  const compare = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'compare' });
  compare.addEventListener('change', () =>
    toggleCompare(compare, { src: outputs[0], params, timings: timingsText(task.timings) }),
  );
  const compareLabel = Object.assign(document.createElement('label'), { className: 'compare-label' });
  compareLabel.append(compare, ` Compare task ${shortId(task.id)}`);
  const extension = body.output_format === 'jpeg' ? 'jpg' : body.output_format;
  // One link per image, each named for screen readers and link lists ("Download" ×4 says nothing).
  const downloads = outputs.flatMap((href, i) => [
    ' ',
    Object.assign(document.createElement('a'), {
      href,
      download: `flux-${task.seed}-${i + 1}.${extension}`,
      textContent: `Download image ${i + 1} of task ${shortId(task.id)}`,
    }),
  ]);
  caption.append(document.createElement('br'), reuseButton, ' ', compareLabel, ...downloads);
  figure.append(caption);
}

// ---- side-by-side comparison ----------------------------------------------------------------

/** The (at most two) results being compared, oldest first, each with the checkbox that chose it. */
const compared = [];

function toggleCompare(box, result) {
  const at = compared.findIndex((c) => c.box === box);
  if (at >= 0) compared.splice(at, 1);
  if (box.checked) {
    compared.push({ box, ...result });
    // Two at a time: a third choice replaces the oldest.
    if (compared.length > 2) {
      const oldest = compared.shift();
      oldest.box.checked = false;
    }
  }
  const panes = compared.map((c) => {
    const pane = document.createElement('figure');
    pane.append(
      Object.assign(document.createElement('img'), { src: c.src, alt: c.params, className: 'result' }),
      Object.assign(document.createElement('figcaption'), { textContent: `${c.params} — ${c.timings}` }),
    );
    return pane;
  });
  $('#compare').replaceChildren(...panes);
  $('#compare-section').hidden = compared.length === 0;
}

/** Latest submission: the status line and bar above follow it; each job has its own card below. */
let latestJob = 0;

/** Submits one job; several can be in flight at once, each followed on its own card. */
async function generate(event) {
  event.preventDefault();
  const job = ++latestJob;
  // At once, so that nothing reads the previous job's "done" as this one's.
  setStatus('submitting…');
  const body = requestBody();
  const card = pendingCard(body);
  const onTask = (task) => {
    card.update(task);
    if (job === latestJob) showProgress(task);
  };
  try {
    const created = await api('POST', `/api/v3/${model}`, body);
    onTask(created);
    const final = await follow(created.id, onTask);
    if (final?.status !== 'completed') throw new Error(final?.error || 'the task did not complete');
    fillCard(card.figure, final, body);
    if (job !== latestJob) return;
    // The server's own standing warnings are shown once (the banner), not after every job.
    const banner = $('#test-model').textContent;
    const warnings = (final.warnings ?? []).filter((w) => !w.startsWith('safety checker') && w !== banner);
    setStatus(
      `done in ${final.timings.total ?? final.timings.inference} ms${warnings.length ? ` — ${warnings.join('; ')}` : ''}`,
    );
    $('#progress').hidden = true;
  } catch (error) {
    card.fail(error.message);
    if (job !== latestJob) return;
    setStatus(error.message, true);
    $('#progress').hidden = true;
  }
}

// ---- history --------------------------------------------------------------------------------

const HISTORY_PAGE = 24;
let historyPage = 0;

/** The first page of history, or (more) the next one after those shown. */
async function loadHistory(more = false) {
  historyPage = more ? historyPage + 1 : 1;
  const page = await api('POST', '/api/v3/predictions', { page: historyPage, page_size: HISTORY_PAGE });
  const items = page.items.map((task) => {
    const li = document.createElement('li');
    if (task.outputs[0])
      li.append(
        Object.assign(document.createElement('img'), {
          src: pageUrl(task.outputs[0]),
          alt: task.input?.prompt ?? task.id,
        }),
      );
    const text = document.createElement('p');
    text.className = 'muted';
    text.textContent = `${task.status} · ${task.input?.prompt ?? ''} · seed ${task.seed ?? '?'}`;
    const button = Object.assign(document.createElement('button'), {
      type: 'button',
      textContent: `Reuse settings of task ${shortId(task.id)}`,
    });
    button.addEventListener('click', () => reuse({ ...task.input, seed: task.seed, size: task.size }));
    li.append(text, button);
    return li;
  });
  if (more) $('#history').append(...items);
  else $('#history').replaceChildren(...items);
  $('#more-history').hidden = historyPage * HISTORY_PAGE >= page.total;
}

// ---- start ----------------------------------------------------------------------------------

function start() {
  $('#api-key').value = apiKey;
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    apiKey = $('#api-key').value.trim();
    localStorage.setItem(KEY_STORAGE, apiKey);
    $('#key-form').hidden = true;
    loadModel().catch(() => {});
    loadLoraNames();
  });
  $('#random-seed').addEventListener('click', () => {
    $('#seed').value = '-1';
  });
  $('#strength').addEventListener('input', () => {
    $('#strength-value').textContent = Number($('#strength').value).toFixed(2);
  });
  $('#image-file').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) chooseImage(file).catch((error) => setStatus(error.message, true));
  });
  $('#remove-image').addEventListener('click', removeImage);
  $('#add-lora').addEventListener('click', () => addLora());
  $('#load-history').addEventListener('click', () =>
    loadHistory().catch((error) => setStatus(error.message, true)),
  );
  $('#more-history').addEventListener('click', () =>
    loadHistory(true).catch((error) => setStatus(error.message, true)),
  );
  $('#generate-form').addEventListener('submit', generate);
  setUpMaskPainting();
  api('GET', '/readyz')
    .then((ready) => {
      $('#server-note').textContent = `ready · ${ready.queue} queued`;
    })
    .catch((error) => {
      $('#server-note').textContent = error.message;
    });
  // A server with keys answers 401 until one is entered (the key form opens; it loads both again).
  loadModel().catch(() => {});
  loadLoraNames();
}

start();
