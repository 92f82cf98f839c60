import { createClient, errorText, follow, log, show } from '/shared/page.js';

const $ = id => document.getElementById(id);
const tokenArea = $('token');
const loginNotice = $('login-notice');
const authNotice = $('auth-notice');

// jwt is the token this connection is logged in with. A reconnected
// WebSocket starts without an access token, so onConnect presents the JWT
// again before resclient resubscribes.
let jwt = null;
const client = createClient({
  onConnect: c => jwt && c.authenticate('jwt.auth', 'login', { token: jwt }).catch(err => {
    jwt = null;
    show(authNotice, 'error', errorText(err));
  }),
});

let secret = null;
let asking = false;
function refreshSecret() {
  if (secret || asking) return;
  asking = true;
  follow(client, 'jwt.secret', {
    granted: m => {
      secret = m;
      $('secret-badge').className = 'badge ok';
      $('secret-badge').textContent = 'Access granted';
      $('secret-text').className = 'granted';
      $('secret-text').textContent = m.message;
    },
    denied: err => {
      secret = null;
      $('secret-badge').className = 'badge bad';
      $('secret-badge').textContent = 'Access denied';
      $('secret-text').className = 'locked';
      $('secret-text').textContent = errorText(err);
    },
  }).finally(() => { asking = false; });
}

// showClaims decodes the token's payload (no checking: that is the
// service's job) so that one can see what it says.
function showClaims() {
  const claims = $('claims');
  const t = tokenArea.value.trim();
  if (!t) { claims.textContent = ''; return; }
  try {
    const payload = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const c = JSON.parse(atob(payload));
    const exp = c.exp ? new Date(c.exp * 1000).toLocaleTimeString([], { hour12: false }) : '—';
    claims.textContent = `Payload: user ${c.sub}${c.role ? `, role ${c.role}` : ''}, expires at ${exp}`;
  } catch {
    claims.textContent = 'Payload: cannot be read (not a JWT?)';
  }
}
tokenArea.addEventListener('input', showClaims);

function useToken(token) {
  return client.authenticate('jwt.auth', 'login', { token }).then(({ user, role, expires }) => {
    jwt = token;
    log(`jwt.auth.login accepted the token: ${user} (${role})`);
    show(authNotice, 'ok', `Token accepted: logged in as ${user} until ${new Date(expires).toLocaleTimeString([], { hour12: false })}.`);
    refreshSecret();
  }).catch(err => {
    jwt = null;
    log(`jwt.auth.login refused the token: ${errorText(err)}`);
    show(authNotice, 'error', errorText(err));
  });
}

$('login-form').addEventListener('submit', async e => {
  e.preventDefault();
  $('login').disabled = true;
  try {
    const resp = await fetch('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: $('username').value, password: $('password').value }),
    });
    const body = await resp.json();
    if (!resp.ok) {
      log(`POST /login: ${resp.status} ${body.error}`);
      show(loginNotice, 'error', body.error);
      return;
    }
    log(`POST /login: got a token, valid until ${body.expires}`);
    show(loginNotice, 'ok', 'Got a token, valid for an hour. Step 2 hands it to resedge.');
    $('password').value = '';
    tokenArea.value = body.token;
    showClaims();
    await useToken(body.token);
  } catch (err) {
    show(loginNotice, 'error', errorText(err));
  } finally {
    $('login').disabled = false;
  }
});

$('use').addEventListener('click', () => useToken(tokenArea.value.trim()));

$('logout').addEventListener('click', () => {
  client.authenticate('jwt.auth', 'logout').then(() => {
    jwt = null;
    log('logout: token cleared');
    show(authNotice, 'info', 'Logged out: the connection has no token any more.');
  }).catch(err => show(authNotice, 'error', errorText(err)));
});

refreshSecret();
