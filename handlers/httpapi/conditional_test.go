package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
)

func TestTagListParsing(t *testing.T) {
	strong := func(v int64) commands.ETag { return commands.ETag{Version: v} }
	weak := func(v int64) commands.ETag { return commands.ETag{Weak: true, Version: v} }
	tests := []struct {
		name  string
		lines []string
		want  *commands.TagList
		bad   bool
	}{
		{"absent", nil, nil, false},
		{"star", []string{"*"}, &commands.TagList{Any: true}, false},
		{"one tag", []string{`"3"`}, &commands.TagList{Tags: []commands.ETag{strong(3)}}, false},
		{"weak tag", []string{`W/"3"`}, &commands.TagList{Tags: []commands.ETag{weak(3)}}, false},
		{"list with spaces", []string{` "1" ,W/"2",  "x" `}, &commands.TagList{Tags: []commands.ETag{strong(1), weak(2), strong(-1)}}, false},
		{"several lines", []string{`"1"`, `"2"`}, &commands.TagList{Tags: []commands.ETag{strong(1), strong(2)}}, false},
		{"empty list elements", []string{`"1",,"2"`}, &commands.TagList{Tags: []commands.ETag{strong(1), strong(2)}}, false},
		{"foreign tags match nothing", []string{`"01"`, `"-1"`, `""`, `"99999999999999999999"`}, &commands.TagList{Tags: []commands.ETag{strong(-1), strong(-1), strong(-1), strong(-1)}}, false},
		{"unquoted", []string{`3`}, nil, true},
		{"unterminated", []string{`"3`}, nil, true},
		{"no comma", []string{`"1" "2"`}, nil, true},
		{"star and tag", []string{`*, "1"`}, nil, true},
		{"star line and tag line", []string{`*`, `"1"`}, nil, true},
		{"lowercase weak prefix", []string{`w/"1"`}, nil, true},
		{"space inside", []string{`"1 2"`}, nil, true},
		{"blank", []string{` `}, nil, true},
		{"too many", []string{strings.Repeat(`"1",`, maxTags+1)}, nil, true},
	}
	for _, tc := range tests {
		h := http.Header{}
		for _, l := range tc.lines {
			h.Add("If-Match", l)
		}
		got, err := tagList(h, "If-Match")
		if tc.bad {
			require.Error(t, err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestPreconditionEvaluation(t *testing.T) {
	parse := func(ifMatch, ifNoneMatch string) commands.Precondition {
		h := http.Header{}
		if ifMatch != "" {
			h.Set("If-Match", ifMatch)
		}
		if ifNoneMatch != "" {
			h.Set("If-None-Match", ifNoneMatch)
		}
		p, err := preconditions(&http.Request{Header: h})
		require.NoError(t, err)
		return p
	}
	tests := []struct {
		ifMatch, ifNoneMatch string
		exists               bool
		version              int64
		want                 string
	}{
		{"", "", true, 3, ""},
		{`"3"`, "", true, 3, ""},
		{`"2", "3"`, "", true, 3, ""},
		{`W/"3"`, "", true, 3, "If-Match"},
		{`"2"`, "", true, 3, "If-Match"},
		{"*", "", true, 3, ""},
		{"*", "", false, 0, "If-Match"},
		{"*", "", false, 4, "If-Match"}, // deleted at version 4
		{`"4"`, "", false, 4, "If-Match"},
		{`"0"`, "", false, 4, ""}, // create only, on a deleted item
		{`"0"`, "", true, 3, "If-Match"},
		{"", "*", false, 0, ""},
		{"", "*", false, 4, ""},
		{"", "*", true, 3, "If-None-Match"},
		{"", `W/"3"`, true, 3, "If-None-Match"},
		{"", `"2"`, true, 3, ""},
		{`"3"`, `"3"`, true, 3, "If-None-Match"},
		{`"2"`, `"3"`, true, 3, "If-Match"}, // If-Match is evaluated first
	}
	for _, tc := range tests {
		got := parse(tc.ifMatch, tc.ifNoneMatch).Failed(tc.exists, tc.version)
		assert.Equal(t, tc.want, got, "If-Match %q If-None-Match %q exists=%v version=%d", tc.ifMatch, tc.ifNoneMatch, tc.exists, tc.version)
	}
}

// FuzzPreconditions: any header value parses or is refused, never panics, and a
// parsed list evaluates.
func FuzzPreconditions(f *testing.F) {
	for _, s := range []string{`*`, `"1"`, `W/"1", "2"`, `"1" "2"`, `,,"3",`, `W/`, `"`, "\"\x80\"", `"1",*`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("If-Match", v)
		h.Set("If-None-Match", v)
		p, err := preconditions(&http.Request{Header: h})
		if err != nil {
			return
		}
		for _, l := range []*commands.TagList{p.IfMatch, p.IfNoneMatch} {
			require.NotNil(t, l)
			require.True(t, l.Any != (len(l.Tags) > 0), "either * or tags: %q", v)
			for _, tag := range l.Tags {
				require.GreaterOrEqual(t, tag.Version, int64(-1))
			}
		}
		_ = p.Failed(true, 1)
		_ = p.Failed(false, 0)
	})
}
