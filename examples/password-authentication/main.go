// Command password-authentication is the RES "Password Authentication"
// example. The page logs in with a username and password through an auth
// method; the Go service (go-res) checks them and sets the connection's
// access token, which resedge keeps for that connection and hands to every
// access check that follows:
//
//   - auth.passwd.user.login ({username, password}) and
//     auth.passwd.user.logout: sets or clears the token;
//   - passwd.notes: a model any logged-in user may get;
//   - passwd.admin: a model only users with the admin role may get.
//
// When the token changes, resedge checks access again for everything the
// connection has subscribed, so logging out (or in as a user with fewer
// rights) takes the resources away at once.
//
//	go run ./cmd/resedge                        # in one terminal
//	go run ./examples/password-authentication   # in another, then open http://127.0.0.1:8085/
package main

import (
	"embed"
	"io/fs"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
	"github.com/resedge/resedge/examples/internal/users"
)

//go:embed web
var web embed.FS

// Token is the access token the service sets on a connection that logged
// in. resedge stores it and sends it with every access request from that
// connection.
type Token struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// errLogin is the answer to a wrong username or password: the same for
// both, so that it does not tell which users exist.
var errLogin = &res.Error{Code: res.CodeAccessDenied, Message: "Wrong username or password"}

func main() {
	svc := res.NewService("passwd")

	svc.Handle("user",
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
			// The token event reaches resedge before the reply does.
			r.TokenEvent(Token{User: u.Name, Role: u.Role})
			r.OK(map[string]string{"user": u.Name, "role": u.Role})
		}),
		res.Auth("logout", func(r res.AuthRequest) {
			r.TokenEvent(nil)
			r.OK(nil)
		}),
	)

	svc.Handle("notes",
		res.Access(func(r res.AccessRequest) {
			var t *Token
			r.ParseToken(&t)
			if t == nil {
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Log in to read the notes"})
				return
			}
			r.AccessGranted()
		}),
		res.GetModel(func(r res.ModelRequest) {
			r.Model(map[string]string{
				"message": "Team notes: the demo is on Friday. Bring snacks.",
			})
		}),
	)

	svc.Handle("admin",
		res.Access(func(r res.AccessRequest) {
			var t *Token
			r.ParseToken(&t)
			switch {
			case t == nil:
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Log in as an admin to see this"})
			case t.Role != "admin":
				r.Error(&res.Error{Code: res.CodeAccessDenied, Message: "Only admins may see this; " + t.User + " is not one"})
			default:
				r.AccessGranted()
			}
		}),
		res.GetModel(func(r res.ModelRequest) {
			r.Model(map[string]string{
				"message": "Admin panel: the server room code is 4 8 15 16 23 42.",
			})
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{Name: "password-authentication", Addr: "127.0.0.1:8085", Web: page}, svc)
}
