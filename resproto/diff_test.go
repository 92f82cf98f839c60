package resproto

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// intValues returns the ints as primitive RES values.
func intValues(ints []int) []Value {
	vs := make([]Value, len(ints))
	for i, n := range ints {
		vs[i] = Value{Type: ValuePrimitive, Raw: json.RawMessage(strconv.Itoa(n))}
	}
	return vs
}

// applyDiff applies remove and add events to a copy of a, as a client
// would, failing on an index out of range.
func applyDiff(t *testing.T, a []Value, events []*resourceEvent) []Value {
	t.Helper()
	out := slices.Clone(a)
	for _, ev := range events {
		var p struct {
			Idx   *int   `json:"idx"`
			Value *Value `json:"value"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.Idx == nil {
			t.Fatalf("bad %s payload %s: %v", ev.Event, ev.Payload, err)
		}
		idx := *p.Idx
		switch ev.Event {
		case "remove":
			if p.Value != nil {
				t.Fatalf("remove event with a value: %s", ev.Payload)
			}
			if idx < 0 || idx >= len(out) {
				t.Fatalf("remove index %d out of range for %d items", idx, len(out))
			}
			out = slices.Delete(out, idx, idx+1)
		case "add":
			if p.Value == nil {
				t.Fatalf("add event without a value: %s", ev.Payload)
			}
			if idx < 0 || idx > len(out) {
				t.Fatalf("add index %d out of range for %d items", idx, len(out))
			}
			out = slices.Insert(out, idx, *p.Value)
		default:
			t.Fatalf("unexpected event %s", ev.Event)
		}
	}
	return out
}

// lcsLen is the length of a longest common subsequence, by plain dynamic
// programming.
func lcsLen(a, b []int) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

func valuesEqual(a, b []Value) bool {
	return slices.EqualFunc(a, b, Value.Equal)
}

func describe(events []*resourceEvent) string {
	s := ""
	for _, ev := range events {
		s += ev.Event + string(ev.Payload) + " "
	}
	return s
}

// Applying the events of diffCollection(a, b) to a gives b, with as few
// events as possible (every item outside a longest common subsequence is
// removed or added once), all removes first, from the highest index down,
// then the adds in ascending order of index, as Resgate sends them.
func TestDiffCollection_Property(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	randInts := func() []int {
		n := rng.Intn(9)
		s := make([]int, n)
		for i := range s {
			s[i] = rng.Intn(4)
		}
		return s
	}
	for iter := 0; iter < 20000; iter++ {
		ai, bi := randInts(), randInts()
		if iter%7 == 0 {
			// Often close to each other, as collections under reset are.
			bi = slices.Clone(ai)
			for k := rng.Intn(3); k > 0 && len(bi) > 0; k-- {
				i := rng.Intn(len(bi))
				bi = slices.Delete(bi, i, i+1)
			}
			for k := rng.Intn(3); k > 0; k-- {
				i := rng.Intn(len(bi) + 1)
				bi = slices.Insert(bi, i, rng.Intn(6))
			}
		}
		a, b := intValues(ai), intValues(bi)
		events := diffCollection(a, b)
		got := applyDiff(t, a, events)
		if !valuesEqual(got, b) {
			t.Fatalf("diff of %v to %v: events %s give %s", ai, bi, describe(events), encodeValueSlice(got, false))
		}
		if want := len(ai) + len(bi) - 2*lcsLen(ai, bi); len(events) != want {
			t.Fatalf("diff of %v to %v: %d events (%s), want %d", ai, bi, len(events), describe(events), want)
		}
		lastRemove, lastAdd, adding := len(ai), -1, false
		for _, ev := range events {
			var p struct {
				Idx int `json:"idx"`
			}
			json.Unmarshal(ev.Payload, &p)
			switch ev.Event {
			case "remove":
				if adding || p.Idx >= lastRemove {
					t.Fatalf("diff of %v to %v: events out of order: %s", ai, bi, describe(events))
				}
				lastRemove = p.Idx
			case "add":
				adding = true
				if p.Idx <= lastAdd {
					t.Fatalf("diff of %v to %v: adds out of order: %s", ai, bi, describe(events))
				}
				lastAdd = p.Idx
			}
		}
		// The original slice is not touched.
		if !valuesEqual(a, intValues(ai)) {
			t.Fatalf("diff changed its input %v", ai)
		}
	}
}

// Fixed cases, among them those of Resgate's reset tests.
func TestDiffCollection_Events(t *testing.T) {
	tbl := []struct {
		a, b   string
		events []string // event name and payload, in order
	}{
		{`[]`, `[]`, nil},
		{`["foo",42,true,null]`, `["foo",42,true,null]`, nil},
		{`["foo",42,true,null]`, `[42,"new",true,null]`, []string{"remove", `{"idx":0}`, "add", `{"idx":1,"value":"new"}`}},
		{`["foo",42,true,null]`, `["foo","bar",42,true]`, []string{"remove", `{"idx":3}`, "add", `{"idx":1,"value":"bar"}`}},
		{`["foo",42,true,null]`, `["foo",42,true,null,{"rid":"test.model","soft":true}]`, []string{"add", `{"idx":4,"value":{"rid":"test.model","soft":true}}`}},
		{`["soft",{"rid":"test.collection","soft":true}]`, `["soft"]`, []string{"remove", `{"idx":1}`}},
		{`[1,2,3]`, `[]`, []string{"remove", `{"idx":2}`, "remove", `{"idx":1}`, "remove", `{"idx":0}`}},
		{`[]`, `[1,2,3]`, []string{"add", `{"idx":0,"value":1}`, "add", `{"idx":1,"value":2}`, "add", `{"idx":2,"value":3}`}},
		// On a tie the item that stays is the one an add is preferred for.
		{`[1,2]`, `[2,1]`, []string{"remove", `{"idx":0}`, "add", `{"idx":1,"value":1}`}},
		{`[{"rid":"a"},{"rid":"b"}]`, `[{"rid":"b"},{"rid":"a","soft":true}]`, []string{"remove", `{"idx":0}`, "add", `{"idx":1,"value":{"rid":"a","soft":true}}`}},
		// A data value wrapping a primitive is that primitive.
		{`[{"data":[1]},{"data":2}]`, `[2,{"data":[1]}]`, []string{"remove", `{"idx":0}`, "add", `{"idx":1,"value":{"data":[1]}}`}},
	}
	for i, l := range tbl {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var a, b []Value
			if err := json.Unmarshal([]byte(l.a), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(l.b), &b); err != nil {
				t.Fatal(err)
			}
			events := diffCollection(a, b)
			if !valuesEqual(applyDiff(t, a, events), b) {
				t.Fatalf("diff %s to %s: events %s do not give b", l.a, l.b, describe(events))
			}
			var got []string
			for _, ev := range events {
				got = append(got, ev.Event, string(ev.Payload))
			}
			if !slices.Equal(got, l.events) {
				t.Fatalf("diff %s to %s: got %q, want %q", l.a, l.b, got, l.events)
			}
		})
	}
}

// TestDiffCollectionLarge checks that two large collections that differ
// all through are diffed without an m×n table: the events replace the
// changed items, and turn one into the other.
func TestDiffCollectionLarge(t *testing.T) {
	const n = 5000 // 25M cells: 100 MB as a table of int32
	a := make([]int, n)
	b := make([]int, n)
	for i := range a {
		a[i] = i
		b[i] = n - 1 - i
	}
	// The same first and last items: kept, not replaced.
	b[0], b[n-1] = 0, n-1
	av, bv := intValues(a), intValues(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events := diffCollection(av, bv)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("diff allocated %d MiB", got>>20)
	}
	if len(events) != 2*(n-2) {
		t.Errorf("%d events, want %d (the changed middle removed and added)", len(events), 2*(n-2))
	}
	got := applyDiff(t, av, events)
	if len(got) != len(bv) {
		t.Fatalf("%d items after the events, want %d", len(got), len(bv))
	}
	for i := range got {
		if !got[i].Equal(bv[i]) {
			t.Fatalf("item %d is %s, want %s", i, got[i].Raw, bv[i].Raw)
		}
	}
}
