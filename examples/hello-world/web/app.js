import { createClient, errorText, log, show } from '/shared/page.js';

const client = createClient();
const message = document.getElementById('message');

log('Getting hello.world');
client.get('hello.world').then(model => {
  message.textContent = model.message;
  log(`Got hello.world: ${JSON.stringify(model.toJSON())}`);
  // Listening keeps the model subscribed; it would update if it changed.
  model.on('change', () => { message.textContent = model.message; });
}).catch(err => {
  message.textContent = '—';
  show(document.getElementById('error'), 'error', errorText(err));
  log(`Get failed: ${errorText(err)}`);
});
