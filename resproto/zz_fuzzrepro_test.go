package resproto

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestZZSharedEngineConcurrent(t *testing.T) {
	url := startFuzzNATS(t)
	e, stop := startFuzzEngine(t, url)
	defer stop()
	var wg sync.WaitGroup
	var once sync.Once
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for round := 0; round < 15; round++ {
				for i := range fuzzClientSeeds {
					seed := fuzzClientSeeds[(i+w*3)%len(fuzzClientSeeds)]
					tr := newFuzzTransport()
					c, _ := e.NewConn(tr, nil, true)
					msgs := bytes.Split([]byte(seed), []byte("\n"))
					for _, m := range msgs {
						c.HandleMessage(m)
					}
					tr.waitReplies(len(msgs), 200*time.Millisecond)
					done := make(chan struct{})
					c.enqueue(func() { close(done) })
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						once.Do(func() {
							buf := make([]byte, 4<<20)
							buf = buf[:runtime.Stack(buf, true)]
							os.WriteFile("/tmp/zzstack.txt", buf, 0o644)
						})
						t.Errorf("worker %d round %d seed %q stuck", w, round, seed)
						return
					}
					c.Close()
				}
			}
		}(w)
	}
	wg.Wait()
}
