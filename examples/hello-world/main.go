// Command hello-world is the RES "Hello World" example: a Go service, written
// with go-res, that serves one model, hello.world, holding a static message;
// its page gets the model through resedge and shows it.
//
//	go run ./cmd/resedge               # in one terminal
//	go run ./examples/hello-world      # in another, then open http://127.0.0.1:8081/
package main

import (
	"embed"
	"io/fs"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
)

//go:embed web
var web embed.FS

func main() {
	// The service is named "hello": it owns every resource whose ID
	// starts with "hello.".
	svc := res.NewService("hello")

	// hello.world is a model anyone may get. It never changes, so there are
	// no events to send.
	svc.Handle("world",
		res.Access(res.AccessGranted),
		res.GetModel(func(r res.ModelRequest) {
			r.Model(struct {
				Message string `json:"message"`
			}{"Hello, World!"})
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{Name: "hello-world", Addr: "127.0.0.1:8081", Web: page}, svc)
}
