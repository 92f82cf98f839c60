import { createClient, errorText, flash, log, show } from '/shared/page.js';

const client = createClient();
const area = document.getElementById('text');
const info = document.getElementById('info');
const error = document.getElementById('error');

let model = null;
let inflight = 0; // set calls sent and not yet answered
const sent = new Set(); // texts this page sent whose change event has not come back
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
  sent.add(message);
  if (sent.size > 100) sent.delete(sent.values().next().value);
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
  area.value = m.message;
  area.disabled = false;
  info.textContent = `${countText()} · edits from any window show up here at once.`;
  log('Got text.shared');
  m.on('change', () => {
    const mine = sent.delete(m.message);
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
