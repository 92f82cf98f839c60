// Helpers shared by the example pages. The resclient npm package's browser
// bundle is loaded before this module (<script src="/shared/resclient.min.js">)
// and defines window.resclient.
const { default: ResClient } = window.resclient;

// gatewayURL is where resedge listens for WebSocket clients: the page's
// ?gateway= parameter, or port 8080 on the host that served the page.
export function gatewayURL() {
  const param = new URLSearchParams(location.search).get('gateway');
  return param || `ws://${location.hostname || 'localhost'}:8080`;
}

// createClient makes the page's ResClient and shows its connection state in
// the header (#status) and the gateway address in the footer (#gateway).
export function createClient(opt) {
  const url = gatewayURL();
  const client = new ResClient(url, opt);
  const gw = document.getElementById('gateway');
  if (gw) gw.textContent = url;
  setStatus('connecting', 'Connecting…');
  client.on('connect', () => setStatus('connected', 'Connected'));
  client.on('disconnect', () => {
    setStatus('disconnected', 'Reconnecting…');
    log('Connection to the gateway lost; resclient reconnects');
  });
  client.on('connectError', () => setStatus('disconnected', 'Not connected'));
  return client;
}

export function setStatus(state, text) {
  const s = document.getElementById('status');
  if (!s) return;
  s.className = 'status ' + state;
  s.textContent = text;
}

// errorText turns a RES error (or anything thrown) into a sentence.
export function errorText(err) {
  if (err && err.code === 'system.connectionError') {
    return `Cannot reach the gateway at ${gatewayURL()}. Is resedge running (go run ./cmd/resedge)? Start it, then reload this page.`;
  }
  if (err && err.message) return err.message;
  if (err && err.code) return err.code;
  return String(err);
}

// log adds a line to the page's "What happened" list (#log), newest first.
export function log(text) {
  const list = document.getElementById('log');
  if (!list) return;
  list.querySelector('.empty')?.remove();
  const time = new Date().toLocaleTimeString([], { hour12: false });
  list.prepend(el('li', {}, el('time', {}, time), el('span', {}, text)));
  while (list.children.length > 50) list.lastElementChild.remove();
}

// flash briefly highlights an element that changed.
export function flash(node) {
  node.classList.add('flash');
  setTimeout(() => node.classList.remove('flash'), 50);
}

// el creates an element: el('button', { class: 'danger', onclick: f }, 'Delete').
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && k !== 'list') node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// show sets a notice element's text and kind (error, ok, info); empty text
// hides it.
export function show(node, kind, text) {
  node.className = 'notice ' + kind;
  node.textContent = text || '';
}

// follow gets a resource and keeps following it while the connection may
// see it. granted(model) is called with the model when it arrives and
// after each change; denied(err) when the get is refused, or when resedge
// takes the resource away (an unsubscribe event: the connection's token
// changed and access was checked again). After denied, follow again to
// retry.
export function follow(client, rid, { granted, denied }) {
  return client.get(rid).then(model => {
    const onChange = () => granted(model);
    const onUnsubscribe = () => {
      // Letting go of the model drops it from resclient's cache, so the
      // next get asks the gateway again.
      model.off('change', onChange);
      model.off('unsubscribe', onUnsubscribe);
      log(`unsubscribe event: access to ${rid} was taken away`);
      denied({ code: 'system.accessDenied', message: 'Access was taken away' });
    };
    model.on('change', onChange);
    model.on('unsubscribe', onUnsubscribe);
    log(`Got ${rid}`);
    granted(model);
    return model;
  }, err => {
    log(`Get ${rid} refused: ${errorText(err)}`);
    denied(err);
    return null;
  });
}
