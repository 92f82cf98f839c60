// Command client-session is the RES "Client Session" example: a login that
// survives page reloads and lost connections. An access token belongs to
// one WebSocket connection, so a new connection starts without one; to
// keep the session, the service hands out a reissue token at login, the
// page keeps it in localStorage, and every time resclient (re)connects it
// logs in again with it, before it resubscribes to anything. The Go
// service (go-res) serves
//
//   - auth.session.auth.login ({username, password}): starts a session;
//   - auth.session.auth.relogin ({reissueToken}): resumes it;
//   - auth.session.auth.logout: ends it;
//   - session.info.<session id>: the session's model (user, when it
//     started, how many times it connected), which only a connection
//     logged in to that session may get.
//
// Run it next to resedge:
//
//	go run ./cmd/resedge               # in one terminal
//	go run ./examples/client-session   # in another, then open http://127.0.0.1:8086/
package main

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"sync"
	"time"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
	"github.com/resedge/resedge/examples/internal/users"
)

//go:embed web
var web embed.FS

// sessionLifetime is how long an unused reissue token stays valid; each
// relogin extends it.
const sessionLifetime = 24 * time.Hour

// Token is the access token of a connection logged in to a session.
type Token struct {
	SID  string `json:"sid"`
	User string `json:"user"`
}

// session is one login. Its reissue token stays the same for the whole
// session: rotating it at every relogin would log out one of two tabs that
// reconnect at the same moment (after a gateway restart, say), each with
// the token the other has just replaced.
type session struct {
	SID          string
	User         string
	Started      time.Time
	Connects     int // login, then one per relogin
	LastConnect  time.Time
	ReissueToken string
	Expires      time.Time
}

// model is the session.info.<sid> model.
func (s *session) model() map[string]any {
	return map[string]any{
		"user":        s.User,
		"started":     s.Started.UTC().Format(time.RFC3339),
		"connects":    s.Connects,
		"lastConnect": s.LastConnect.UTC().Format(time.RFC3339),
	}
}

// store holds the sessions, in memory: restarting the service ends them.
type store struct {
	mu        sync.Mutex
	bySID     map[string]*session
	byReissue map[string]*session
}

func randomString(n int, enc func([]byte) string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return enc(b)
}

var (
	errLogin   = &res.Error{Code: res.CodeAccessDenied, Message: "Wrong username or password"}
	errExpired = &res.Error{Code: res.CodeAccessDenied, Message: "Your session has ended; log in again"}
)

func main() {
	st := &store{bySID: map[string]*session{}, byReissue: map[string]*session{}}
	svc := res.NewService("session")

	// connected counts a (re)login and returns what the page is told.
	connected := func(r res.AuthRequest, s *session, now time.Time) {
		s.Connects++
		s.LastConnect = now
		s.Expires = now.Add(sessionLifetime)
		info := s.model()
		r.TokenEvent(Token{SID: s.SID, User: s.User})
		r.OK(map[string]string{"sid": s.SID, "user": s.User, "reissueToken": s.ReissueToken})
		// The model belongs to another resource, so its change event is
		// sent from that resource's worker.
		_ = svc.With("session.info."+s.SID, func(m res.Resource) { m.ChangeEvent(info) })
	}

	svc.Handle("auth",
		res.Auth("login", func(r res.AuthRequest) {
			var p struct {
				Username string `json:"username"`
				Password string `json:"password"`
			}
			r.ParseParams(&p)
			u, ok := users.Check(p.Username, p.Password)
			if !ok {
				r.Error(errLogin)
				return
			}
			now := time.Now()
			s := &session{
				SID:          randomString(8, hex.EncodeToString),
				User:         u.Name,
				Started:      now,
				ReissueToken: randomString(32, base64.RawURLEncoding.EncodeToString),
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			st.bySID[s.SID] = s
			st.byReissue[s.ReissueToken] = s
			connected(r, s, now)
		}),
		res.Auth("relogin", func(r res.AuthRequest) {
			var p struct {
				ReissueToken string `json:"reissueToken"`
			}
			r.ParseParams(&p)
			now := time.Now()
			st.mu.Lock()
			defer st.mu.Unlock()
			s := st.byReissue[p.ReissueToken]
			if s == nil || now.After(s.Expires) {
				if s != nil {
					st.end(s)
				}
				r.TokenEvent(nil)
				r.Error(errExpired)
				return
			}
			connected(r, s, now)
		}),
		res.Auth("logout", func(r res.AuthRequest) {
			var t *Token
			r.ParseToken(&t)
			r.TokenEvent(nil)
			r.OK(nil)
			if t == nil {
				return
			}
			st.mu.Lock()
			s := st.bySID[t.SID]
			if s != nil {
				st.end(s)
			}
			st.mu.Unlock()
			if s != nil {
				// Other tabs of the same session lose the model too:
				// resedge checks their access again, and the session is
				// gone.
				_ = svc.With("session.info."+s.SID, func(m res.Resource) { m.ReaccessEvent() })
			}
		}),
	)

	svc.Handle("info.$sid",
		res.Access(func(r res.AccessRequest) {
			var t *Token
			r.ParseToken(&t)
			st.mu.Lock()
			ok := t != nil && t.SID == r.PathParam("sid") && st.bySID[t.SID] != nil
			st.mu.Unlock()
			if !ok {
				r.Error(errExpired)
				return
			}
			r.AccessGranted()
		}),
		res.GetModel(func(r res.ModelRequest) {
			st.mu.Lock()
			defer st.mu.Unlock()
			s := st.bySID[r.PathParam("sid")]
			if s == nil {
				r.NotFound()
				return
			}
			r.Model(s.model())
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{Name: "client-session", Addr: "127.0.0.1:8086", Web: page}, svc)
}

// end forgets a session; st.mu must be held.
func (st *store) end(s *session) {
	delete(st.bySID, s.SID)
	delete(st.byReissue, s.ReissueToken)
}
