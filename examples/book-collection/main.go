// Command book-collection is the RES "Book Collection" example: a list of
// books that everyone sees and anyone can add to, edit and delete. The Go
// service (go-res) serves
//
//   - library.books, a collection of references to the books, with the
//     methods new ({title, author}) and delete ({id});
//   - library.book.<id>, one model per book ({id, title, author}), with the
//     method set ({title?, author?}).
//
// Each change sends the matching event (add, remove, change), and resedge
// pushes it to every page that has the resource.
//
//	go run ./cmd/resedge                # in one terminal
//	go run ./examples/book-collection   # in another, then open http://127.0.0.1:8083/ in two windows
package main

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"unicode/utf8"

	res "github.com/jirenius/go-res"
	"github.com/resedge/resedge/examples/internal/app"
)

//go:embed web
var web embed.FS

// Book is the model library.book.<id>.
type Book struct {
	ID     int64  `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"`
}

// library holds the books, in memory: a restart starts over. go-res runs
// handlers of different resources at the same time (the collection's and a
// book's), so everything is behind one mutex.
type library struct {
	mu     sync.Mutex
	books  map[int64]*Book
	order  []int64 // the collection, in order
	nextID int64
}

func newLibrary() *library {
	l := &library{books: map[int64]*Book{}, nextID: 1}
	for _, b := range [][2]string{
		{"Animal Farm", "George Orwell"},
		{"Brave New World", "Aldous Huxley"},
		{"The Left Hand of Darkness", "Ursula K. Le Guin"},
	} {
		l.add(b[0], b[1])
	}
	return l
}

// add appends a book and returns it with its index in the collection.
func (l *library) add(title, author string) (*Book, int) {
	b := &Book{ID: l.nextID, Title: title, Author: author}
	l.nextID++
	l.books[b.ID] = b
	l.order = append(l.order, b.ID)
	return b, len(l.order) - 1
}

func bookRID(id int64) string { return fmt.Sprintf("library.book.%d", id) }

// clean trims a title or author and checks it; what names the field in the
// error message.
func clean(s, what string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", &res.Error{Code: res.CodeInvalidParams, Message: what + " must not be empty"}
	case utf8.RuneCountInString(s) > 200:
		return "", &res.Error{Code: res.CodeInvalidParams, Message: what + " may be at most 200 characters long"}
	}
	return s, nil
}

func main() {
	lib := newLibrary()
	svc := res.NewService("library")

	svc.Handle("books",
		res.Access(res.AccessGranted),
		res.GetCollection(func(r res.CollectionRequest) {
			lib.mu.Lock()
			defer lib.mu.Unlock()
			refs := make([]res.Ref, len(lib.order))
			for i, id := range lib.order {
				refs[i] = res.Ref(bookRID(id))
			}
			r.Collection(refs)
		}),
		// new adds a book at the end and answers with the new model.
		res.Call("new", func(r res.CallRequest) {
			var p struct {
				Title  string `json:"title"`
				Author string `json:"author"`
			}
			r.ParseParams(&p)
			title, err := clean(p.Title, "Title")
			if err != nil {
				r.Error(err)
				return
			}
			author, err := clean(p.Author, "Author")
			if err != nil {
				r.Error(err)
				return
			}
			lib.mu.Lock()
			b, idx := lib.add(title, author)
			lib.mu.Unlock()
			r.AddEvent(res.Ref(bookRID(b.ID)), idx)
			r.Resource(bookRID(b.ID))
		}),
		// delete removes a book: {"id": 3}.
		res.Call("delete", func(r res.CallRequest) {
			var p struct {
				ID int64 `json:"id"`
			}
			r.ParseParams(&p)
			lib.mu.Lock()
			idx := -1
			for i, id := range lib.order {
				if id == p.ID {
					idx = i
					break
				}
			}
			if idx >= 0 {
				lib.order = append(lib.order[:idx], lib.order[idx+1:]...)
				delete(lib.books, p.ID)
			}
			lib.mu.Unlock()
			if idx < 0 {
				r.Error(&res.Error{Code: res.CodeNotFound, Message: "There is no such book (deleted already?)"})
				return
			}
			r.RemoveEvent(idx)
			r.OK(nil)
		}),
	)

	svc.Handle("book.$id",
		res.Access(res.AccessGranted),
		res.GetModel(func(r res.ModelRequest) {
			lib.mu.Lock()
			defer lib.mu.Unlock()
			b := lib.lookup(r.PathParam("id"))
			if b == nil {
				r.NotFound()
				return
			}
			r.Model(*b)
		}),
		// set changes the title, the author, or both.
		res.Set(func(r res.CallRequest) {
			var p struct {
				Title  *string `json:"title"`
				Author *string `json:"author"`
			}
			r.ParseParams(&p)
			changed := map[string]any{}
			var title, author string
			var err error
			if p.Title != nil {
				if title, err = clean(*p.Title, "Title"); err != nil {
					r.Error(err)
					return
				}
			}
			if p.Author != nil {
				if author, err = clean(*p.Author, "Author"); err != nil {
					r.Error(err)
					return
				}
			}
			lib.mu.Lock()
			b := lib.lookup(r.PathParam("id"))
			if b != nil {
				if p.Title != nil && title != b.Title {
					b.Title = title
					changed["title"] = title
				}
				if p.Author != nil && author != b.Author {
					b.Author = author
					changed["author"] = author
				}
			}
			lib.mu.Unlock()
			if b == nil {
				r.NotFound()
				return
			}
			r.ChangeEvent(changed) // no event when nothing changed
			r.OK(nil)
		}),
	)

	page, _ := fs.Sub(web, "web")
	app.Run(app.Example{Name: "book-collection", Addr: "127.0.0.1:8083", Web: page}, svc)
}

// lookup finds a book by the id part of its resource ID; l.mu must be held.
func (l *library) lookup(id string) *Book {
	var n int64
	if _, err := fmt.Sscan(id, &n); err != nil || fmt.Sprint(n) != id {
		return nil
	}
	return l.books[n]
}
