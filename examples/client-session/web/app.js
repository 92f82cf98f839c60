import { createClient, errorText, flash, follow, log, show } from '/shared/page.js';

const $ = id => document.getElementById(id);
const notice = $('notice');
const KEY = 'resedge-example-client-session'; // localStorage key of the reissue token
const time = iso => new Date(iso).toLocaleTimeString([], { hour12: false });

let session = null; // {sid, user} while logged in
let info = null; // the session.info.<sid> model

// relogin runs each time resclient connects, before it resubscribes to
// anything: with a stored reissue token, it logs this new connection in to
// the session. It always resolves, as resclient's onConnect must.
function relogin(c) {
  const reissueToken = localStorage.getItem(KEY);
  if (!reissueToken) return undefined;
  return c.authenticate('session.auth', 'relogin', { reissueToken }).then(s => {
    session = { sid: s.sid, user: s.user };
    localStorage.setItem(KEY, s.reissueToken);
    log(`relogin: session ${s.sid} of ${s.user} resumed on the new connection`);
  }).catch(err => {
    localStorage.removeItem(KEY);
    session = null;
    log(`relogin refused: ${errorText(err)}`);
    show(notice, 'info', errorText(err));
  });
}

const client = createClient({ onConnect: relogin });

function render() {
  $('login-card').hidden = !!session;
  $('session-card').hidden = !session;
}

function showInfo(m) {
  const connects = $('session-connects');
  if (connects.textContent && connects.textContent !== String(m.connects)) {
    log(`change event: connections = ${m.connects}`);
    flash(connects.parentElement);
  }
  $('session-user').textContent = m.user;
  $('session-started').textContent = time(m.started);
  connects.textContent = m.connects;
  $('session-last').textContent = time(m.lastConnect);
}

function followSession() {
  if (!session || info) return;
  const rid = `session.info.${session.sid}`;
  $('session-rid').textContent = rid;
  $('session-id').textContent = session.sid;
  follow(client, rid, {
    granted: m => { info = m; showInfo(m); },
    denied: err => {
      info = null;
      if (!session) return; // logging out
      session = null;
      localStorage.removeItem(KEY);
      show(notice, 'info', `The session has ended (${errorText(err)}). Log in again.`);
      render();
    },
  });
}

$('login-form').addEventListener('submit', e => {
  e.preventDefault();
  $('login').disabled = true;
  client.authenticate('session.auth', 'login', { username: $('username').value, password: $('password').value })
    .then(s => {
      session = { sid: s.sid, user: s.user };
      localStorage.setItem(KEY, s.reissueToken);
      log(`login: session ${s.sid} started for ${s.user}; reissue token stored in localStorage`);
      show(notice, 'ok', `Welcome, ${s.user}! Now reload the page: you stay logged in.`);
      $('password').value = '';
      render();
      followSession();
    })
    .catch(err => {
      log(`login refused: ${errorText(err)}`);
      show(notice, 'error', errorText(err));
    })
    .finally(() => { $('login').disabled = false; });
});

$('reload').addEventListener('click', () => location.reload());

$('logout').addEventListener('click', () => {
  session = null;
  localStorage.removeItem(KEY);
  render();
  client.authenticate('session.auth', 'logout').then(() => {
    log('logout: session ended, reissue token removed');
    show(notice, 'info', 'Logged out. Reloading now shows the login form.');
  }).catch(err => show(notice, 'error', errorText(err)));
});

client.connect().then(() => {
  render();
  followSession();
}).catch(err => {
  show(notice, 'error', errorText(err));
  render();
});
