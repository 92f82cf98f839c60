import { createClient, errorText, follow, log, show } from '/shared/page.js';

const client = createClient();
const $ = id => document.getElementById(id);
const form = $('login-form');
const notice = $('login-notice');

// The two protected resources, each shown in its own card.
const panels = ['notes', 'admin'].map(name => ({
  rid: `passwd.${name}`,
  badge: $(`${name}-badge`),
  text: $(`${name}-text`),
  model: null,
  asking: false,
}));

function granted(panel, model) {
  panel.model = model;
  panel.badge.className = 'badge ok';
  panel.badge.textContent = 'Access granted';
  panel.text.className = 'granted';
  panel.text.textContent = model.message;
}

function denied(panel, err) {
  panel.model = null;
  panel.badge.className = 'badge bad';
  panel.badge.textContent = 'Access denied';
  panel.text.className = 'locked';
  panel.text.textContent = errorText(err);
}

// refresh asks again for every resource the page does not have.
function refresh() {
  for (const panel of panels) {
    if (panel.model || panel.asking) continue;
    panel.asking = true;
    follow(client, panel.rid, { granted: m => granted(panel, m), denied: err => denied(panel, err) })
      .finally(() => { panel.asking = false; });
  }
}

function loggedIn(user, role) {
  form.hidden = !!user;
  $('who').hidden = !user;
  $('user').textContent = user || '';
  $('role').textContent = role || '';
}

form.addEventListener('submit', e => {
  e.preventDefault();
  const username = $('username').value;
  $('login').disabled = true;
  client.authenticate('passwd.user', 'login', { username, password: $('password').value })
    .then(({ user, role }) => {
      log(`login accepted: token set for ${user} (${role})`);
      show(notice, 'ok', `Welcome, ${user}! resedge now checks access with your token.`);
      $('password').value = '';
      loggedIn(user, role);
      refresh();
    })
    .catch(err => {
      log(`login refused: ${errorText(err)}`);
      show(notice, 'error', errorText(err));
    })
    .finally(() => { $('login').disabled = false; });
});

$('logout').addEventListener('click', () => {
  client.authenticate('passwd.user', 'logout').then(() => {
    log('logout: token cleared');
    show(notice, 'info', 'Logged out. resedge checked access again and took the resources away.');
    loggedIn(null);
  }).catch(err => show(notice, 'error', errorText(err)));
});

// The token belongs to the connection: a new connection starts without
// one. (The Client Session example shows how to keep a login.)
client.on('disconnect', () => {
  if (!form.hidden) return;
  loggedIn(null);
  show(notice, 'info', 'The connection was lost, and its token with it: log in again.');
});

refresh();
