// Command edit-text is the RES "Edit Text" example: one shared text that
// every open page shows and anyone can edit. The Go service (go-res) serves
// the model text.shared and its set method; each successful set sends a
// change event, which resedge pushes to every page that has the model.
//
//	go run ./cmd/resedge             # in one terminal
//	go run ./examples/edit-text      # in another, then open http://127.0.0.1:8082/ in two windows
package main

import (
	"embed"
	"io/fs"
	"sync"
	"unicode/utf8"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
)

//go:embed web
var web embed.FS

// maxLength bounds the text, in characters.
const maxLength = 2000

// text is the shared model. go-res runs the handlers of one resource one at
// a time, so the mutex only guards against readers elsewhere.
var text = struct {
	sync.Mutex
	Message string
}{Message: "Hello, World! Edit me, and watch the other windows."}

func main() {
	svc := res.NewService("text")
	svc.Handle("shared",
		res.Access(res.AccessGranted),
		res.GetModel(func(r res.ModelRequest) {
			text.Lock()
			defer text.Unlock()
			r.Model(map[string]string{"message": text.Message})
		}),
		// set is the method resclient calls for model.set(...) and that
		// the page calls as it is typed in: {"message": "new text"}.
		res.Set(func(r res.CallRequest) {
			var p struct {
				Message *string `json:"message"`
			}
			r.ParseParams(&p)
			if p.Message == nil {
				r.InvalidParams("message is required")
				return
			}
			if utf8.RuneCountInString(*p.Message) > maxLength {
				r.InvalidParams("The text may be at most 2000 characters long")
				return
			}
			text.Lock()
			changed := *p.Message != text.Message
			text.Message = *p.Message
			text.Unlock()
			if changed {
				// Every subscriber, the caller included, gets the change.
				r.ChangeEvent(map[string]any{"message": *p.Message})
			}
			r.OK(nil)
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{Name: "edit-text", Addr: "127.0.0.1:8082", Web: page}, svc)
}
