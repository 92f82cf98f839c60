package resproto

import (
	"strings"
	"testing"
)

// Cases after Resgate's 17codec_test.go (TestIsValidRID, with queries
// allowed) and 61rescache_resourcepattern_test.go.

func TestIsValidRID(t *testing.T) {
	tbl := []struct {
		rid   string
		valid bool
	}{
		{"test", true},
		{"test.model", true},
		{"test.model._foo_", true},
		{"test.model.<foo", true},
		{"test.model.23", true},
		{"test.model.23?", true},
		{"test.model.23?foo=bar", true},
		{"test.model.23?foo=test.bar", true},
		{"test.model.23?foo=*&?", true},
		{"test.model?q=a b\tc\x00ä", true},
		{"$test.model~!", true},
		{"a", true},
		{"test.model?" + strings.Repeat("x", 10000), true},

		{"", false},
		{".", false},
		{"?", false},
		{".test", false},
		{"test.", false},
		{".test.model", false},
		{"test..model", false},
		{"test.model.", false},
		{"test\tmodel", false},
		{"test\nmodel", false},
		{"test\rmodel", false},
		{"test model", false},
		{"test\x7fmodel", false},
		{"test\x00model", false},
		{"test\ufffdmodel", false},
		{"täst.model", false},
		{"test.*.model", false},
		{"test.>.model", false},
		{"test.model.>", false},
		{"test.model.*", false},
		{"test.mo*del", false},
		{"?foo=test.bar", false},
		{".test.model?foo=test.bar", false},
		{"test..model?foo=test.bar", false},
		{"test.model.?foo=test.bar", false},
		{"test\tmodel?foo=test.bar", false},
		{"test\nmodel?foo=test.bar", false},
		{"test\rmodel?foo=test.bar", false},
		{"test model?foo=test.bar", false},
		{"test\ufffdmodel?foo=test.bar", false},
		{"täst.model?foo=test.bar", false},
		{"test.*.model?foo=test.bar", false},
		{"test.>.model?foo=test.bar", false},
		{"test.model.>?foo=test.bar", false},
	}
	for _, l := range tbl {
		t.Run(l.rid, func(t *testing.T) {
			if got := IsValidRID(l.rid); got != l.valid {
				t.Errorf("IsValidRID(%q) = %v, want %v", l.rid, got, l.valid)
			}
		})
	}
}

func TestIsValidRIDPart(t *testing.T) {
	tbl := []struct {
		part  string
		valid bool
	}{
		{"test", true},
		{"_foo_", true},
		{"<foo>!", false},
		{"$1~", true},
		{"method-name", true},
		{"a", true},

		{"", false},
		{"a.b", false},
		{".", false},
		{"a?", false},
		{"*", false},
		{"a*", false},
		{">", false},
		{"a b", false},
		{"a\tb", false},
		{"ä", false},
		{"\x7f", false},
		{"\x00", false},
	}
	for _, l := range tbl {
		t.Run(l.part, func(t *testing.T) {
			if got := IsValidRIDPart(l.part); got != l.valid {
				t.Errorf("IsValidRIDPart(%q) = %v, want %v", l.part, got, l.valid)
			}
		})
	}
}

func TestSplitRID(t *testing.T) {
	tbl := []struct{ rid, name, query string }{
		{"test.model", "test.model", ""},
		{"test.model?", "test.model", ""},
		{"test.model?q=1", "test.model", "q=1"},
		{"test.model?q=a.b?c", "test.model", "q=a.b?c"},
		{"", "", ""},
	}
	for _, l := range tbl {
		t.Run(l.rid, func(t *testing.T) {
			name, query := SplitRID(l.rid)
			if name != l.name || query != l.query {
				t.Errorf("SplitRID(%q) = %q, %q; want %q, %q", l.rid, name, query, l.name, l.query)
			}
		})
	}
}

func TestPattern_IsValid(t *testing.T) {
	tbl := []struct {
		pattern string
		valid   bool
	}{
		{"test", true},
		{"test.model", true},
		{"test.model.foo", true},
		{"test$.model", true},
		{"$test.model", true},
		{">", true},
		{"test.>", true},
		{"test.model.>", true},
		{"*", true},
		{"test.*", true},
		{"*.model", true},
		{"test.*.foo", true},
		{"test.model.*", true},
		{"*.model.foo", true},
		{"test.*.*", true},
		{"test.*.>", true},
		{"*.*.>", true},

		{"", false},
		{".", false},
		{".test", false},
		{"test.", false},
		{"test..foo", false},
		{"*test", false},
		{"test*", false},
		{"test.*foo", false},
		{"test.foo*", false},
		{"test.**.foo", false},
		{">test", false},
		{"test>", false},
		{"test.>foo", false},
		{"test.foo>", false},
		{"test.>.foo", false},
		{">.>", false},
		{"test.$foo>", false},
		{"test.$foo*", false},
		{"test.foo?", false},
		{"test.foo?q=1", false},
		{"test. .foo", false},
		{"test.\x127.foo", false},
		{"test.räv", false},
	}
	for _, l := range tbl {
		t.Run(l.pattern, func(t *testing.T) {
			if got := Pattern(l.pattern).IsValid(); got != l.valid {
				t.Errorf("Pattern(%q).IsValid() = %v, want %v", l.pattern, got, l.valid)
			}
		})
	}
}

func TestPattern_Matches(t *testing.T) {
	tbl := []struct {
		pattern, name string
		match         bool
	}{
		{"test", "test", true},
		{"test.model", "test.model", true},
		{"test.model.foo", "test.model.foo", true},
		{"test$.model", "test$.model", true},
		{"$foo.model", "$foo.model", true},
		{">", "test", true},
		{">", "test.model.foo", true},
		{"test.>", "test.model", true},
		{"test.>", "test.model.foo", true},
		{"test.model.>", "test.model.foo", true},
		{"*", "test", true},
		{"test.*", "test.model", true},
		{"*.model", "test.model", true},
		{"test.*.foo", "test.model.foo", true},
		{"test.model.*", "test.model.foo", true},
		{"*.model.foo", "test.model.foo", true},
		{"test.*.*", "test.model.foo", true},
		{"test.*.>", "test.model.foo", true},
		{"test.*.>", "test.model.foo.bar", true},

		{"", "", false},
		{"", "test", false},
		{"test", "test.model", false},
		{"test.model", "test.mode", false},
		{"test.model", "test", false},
		{"test.model.foo", "test.model", false},
		{"test.model.foo", "test.mode.foo", false},
		{"test", "testing", false},
		{"testing", "test", false},
		{"foo", "bar", false},
		{">", "", false},
		{"test.>", "test", false},
		{"test.>", "testing.model", false},
		{"test.model.>", "test.model", false},
		{"*", "", false},
		{"*", "test.model", false},
		{"test.*", "test", false},
		{"test.*", "test.model.foo", false},
		{"*.model", "test", false},
		{"test.*.foo", "test.model", false},
		{"test.model.*", "test.model", false},
		{"*.model.foo", "test.model", false},
		{"test.*.*", "test.model", false},
		{"foo.*", "bar.model", false},
		{"*.bar", "foo.baz", false},
		{"test.*.>", "test.model", false},
		// A wildcard needs a part to match.
		{"test.*", "test.", false},
		{"test.>", "test.", false},
	}
	for _, l := range tbl {
		t.Run(l.pattern+" "+l.name, func(t *testing.T) {
			if got := Pattern(l.pattern).Matches(l.name); got != l.match {
				t.Errorf("Pattern(%q).Matches(%q) = %v, want %v", l.pattern, l.name, got, l.match)
			}
		})
	}
}

// Every valid pattern without wildcards matches exactly its own name.
func TestPattern_LiteralMatchesItself(t *testing.T) {
	for _, name := range []string{"a", "test.model", "a.b.c.d.e", "$x.y_z"} {
		if !Pattern(name).IsValid() || !Pattern(name).Matches(name) {
			t.Errorf("Pattern(%q) does not match itself", name)
		}
		if Pattern(name).Matches(name + ".x") {
			t.Errorf("Pattern(%q) matches %q", name, name+".x")
		}
	}
}
