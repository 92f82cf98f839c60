// Command jwt-authentication is the RES "JWT Authentication" example. The
// page gets a JSON Web Token from the example's HTTP endpoint POST /login
// (username and password), then hands it to the RES service with the auth
// method jwt.auth.login. The Go service (go-res) validates the token and
// sets the connection's access token from its claims (a conn.<cid>.token
// event), which resedge hands to every access check that follows:
//
//   - POST /login ({username, password}): {token, expires}, or 401;
//   - auth.jwt.auth.login ({token}) and auth.jwt.auth.logout;
//   - jwt.secret: a model only a connection with a valid token may get.
//
// Run it next to resedge:
//
//	go run ./cmd/resedge                   # in one terminal
//	go run ./examples/jwt-authentication   # in another, then open http://127.0.0.1:8084/
package main

import (
	"crypto/rand"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
	"github.com/resedge/resedge/examples/internal/users"
)

//go:embed web
var web embed.FS

// tokenLifetime is how long an issued JWT is valid.
const tokenLifetime = time.Hour

// Token is the access token set on a connection that presented a valid
// JWT. It keeps the expiry, so that access ends when the JWT does.
type Token struct {
	User      string `json:"user"`
	Role      string `json:"role"`
	ExpiresAt int64  `json:"exp"`
}

func main() {
	// The signing key lives as long as the process: tokens from an earlier
	// run are refused, as the page explains.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}

	svc := res.NewService("jwt")

	svc.Handle("auth",
		// login validates the JWT and sets the connection's token from
		// it. A token that is not valid clears the connection's token, so
		// whatever it gave access to is taken away.
		res.Auth("login", func(r res.AuthRequest) {
			var p struct {
				Token string `json:"token"`
			}
			r.ParseParams(&p)
			c, err := VerifyJWT(p.Token, key, time.Now())
			if err != nil {
				r.TokenEvent(nil)
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Token refused: " + err.Error()})
				return
			}
			r.TokenEvent(Token{User: c.Subject, Role: c.Role, ExpiresAt: c.ExpiresAt})
			r.OK(map[string]any{"user": c.Subject, "role": c.Role, "expires": time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339)})
		}),
		res.Auth("logout", func(r res.AuthRequest) {
			r.TokenEvent(nil)
			r.OK(nil)
		}),
	)

	svc.Handle("secret",
		res.Access(func(r res.AccessRequest) {
			var t *Token
			r.ParseToken(&t)
			switch {
			case t == nil:
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Log in to see the secret"})
			case time.Now().Unix() >= t.ExpiresAt:
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Your token has expired; log in again"})
			default:
				r.AccessGranted()
			}
		}),
		res.GetModel(func(r res.ModelRequest) {
			r.Model(map[string]string{"message": "The cake is in the fridge, second shelf."})
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{
		Name: "jwt-authentication",
		Addr: "127.0.0.1:8084",
		Web:  page,
		Routes: func(mux *http.ServeMux) {
			mux.Handle("POST /login", loginHandler(key))
		},
	}, svc)
}

// loginHandler issues a JWT for a known user and password:
// {"username": "alice", "password": "wonderland"} → {"token": "…", "expires": "…"}.
func loginHandler(key []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		var p struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4096)).Decode(&p); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Send JSON: {\"username\": …, \"password\": …}"})
			return
		}
		u, ok := users.Check(p.Username, p.Password)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Wrong username or password"})
			return
		}
		now := time.Now()
		exp := now.Add(tokenLifetime)
		token, err := SignJWT(Claims{Subject: u.Name, Role: u.Role, IssuedAt: now.Unix(), ExpiresAt: exp.Unix()}, key)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": token, "expires": exp.UTC().Format(time.RFC3339)})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
