import { createClient, errorText, flash, log, show } from '/shared/page.js';

const client = createClient();
const area = document.getElementById('text');
const info = document.getElementById('info');
const error = document.getElementById('error');

let model = null;
let inflight = 0; // set calls sent and not yet answered
const sent = []; // texts this page sent whose change event has not come back, oldest first
let shown = null; // the model text the page last took a change event for
let remote = false; // another window changed the text while this one was typing

// While this page's own set calls are on their way, the text field is
// ahead of the model: the change events of older keystrokes (and their
// replies) may still arrive, and applying them would undo newer ones. So
// the field follows the model only when no call is on its way; a change
// from another window that comes in meanwhile is applied as soon as the
// last call is answered.
function render() {
  if (!model || area.value === model.message) return;
  const { selectionStart, selectionEnd } = area;
  area.value = model.message;
  if (document.activeElement === area) area.setSelectionRange(selectionStart, selectionEnd);
}

function countText() {
  const n = model ? model.message.length : 0;
  return `${n} character${n === 1 ? '' : 's'}`;
}

area.addEventListener('input', () => {
  const message = area.value;
  sent.push(message);
  if (sent.length > 100) sent.shift();
  inflight++;
  client.call('text.shared', 'set', { message })
    .then(() => show(error, 'error', ''))
    .catch(err => {
      remote = true; // refused: go back to the model's text
      show(error, 'error', errorText(err));
      log(`set refused: ${errorText(err)}`);
    })
    .finally(() => {
      inflight--;
      if (inflight === 0 && remote) {
        remote = false;
        render();
      }
    });
});

client.get('text.shared').then(m => {
  model = m;
  shown = m.message;
  area.value = m.message;
  area.disabled = false;
  info.textContent = `${countText()} · edits from any window show up here at once.`;
  log('Got text.shared');
  // resclient calls change handlers on a later task, with the model as it
  // is by then: events that arrive together (a socket read may hold
  // several) all find the model at the newest text. The first handler takes
  // that text; the others have nothing new to show. A text this page sent
  // is its own, and whatever it sent before that has been overtaken.
  m.on('change', () => {
    if (m.message === shown) return;
    shown = m.message;
    const i = sent.indexOf(m.message);
    const mine = i >= 0;
    if (mine) sent.splice(0, i + 1);
    info.textContent = `${countText()} · last change ${mine ? 'from this window' : 'from another window'} at ${new Date().toLocaleTimeString([], { hour12: false })}`;
    log(`change event: message = ${JSON.stringify(m.message.length > 60 ? m.message.slice(0, 57) + '…' : m.message)}${mine ? '' : ' (another window)'}`);
    if (inflight === 0) render();
    else if (!mine) remote = true;
    if (!mine) flash(area);
  });
}).catch(err => {
  info.textContent = '';
  show(error, 'error', errorText(err));
  log(`Get failed: ${errorText(err)}`);
});
