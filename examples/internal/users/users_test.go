package users

import "testing"

func TestCheck(t *testing.T) {
	if u, ok := Check("alice", "wonderland"); !ok || u != (User{"alice", "admin"}) {
		t.Errorf("alice: %+v %v", u, ok)
	}
	if u, ok := Check(" Bob ", "builder"); !ok || u != (User{"bob", "user"}) {
		t.Errorf("bob: %+v %v", u, ok)
	}
	for _, c := range [][2]string{{"alice", "builder"}, {"carol", "wonderland"}} {
		if _, ok := Check(c[0], c[1]); ok {
			t.Errorf("%q/%q accepted", c[0], c[1])
		}
	}
}
