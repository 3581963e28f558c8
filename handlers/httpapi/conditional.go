package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
)

// preconditions parses If-Match and If-None-Match (RFC 9110 13.1.1, 13.1.2):
// "*" or a comma-separated list of entity tags, over one or more header lines.
// A well-formed tag this API never issued is kept (it matches nothing, so the
// request fails with 412); a malformed header is a 400.
func preconditions(r *http.Request) (commands.Precondition, error) {
	var p commands.Precondition
	var err error
	if p.IfMatch, err = tagList(r.Header, "If-Match"); err != nil {
		return p, err
	}
	if p.IfNoneMatch, err = tagList(r.Header, "If-None-Match"); err != nil {
		return p, err
	}
	return p, nil
}

// maxTags bounds the tags one header may list.
const maxTags = 64

func tagList(h http.Header, name string) (*commands.TagList, error) {
	lines := h.Values(name)
	if len(lines) == 0 {
		return nil, nil
	}
	bad := func() error {
		return domain.FieldError(name, `must be * or a list of entity tags such as "3" (the ETag this API returns)`)
	}
	l := &commands.TagList{}
	for _, line := range lines {
		rest := strings.TrimSpace(line)
		if rest == "*" {
			l.Any = true
			continue
		}
		for rest != "" {
			weak := strings.HasPrefix(rest, "W/")
			if weak {
				rest = rest[2:]
			}
			if !strings.HasPrefix(rest, `"`) {
				return nil, bad()
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, bad()
			}
			opaque := rest[1 : 1+end]
			for i := 0; i < len(opaque); i++ {
				// etagc = %x21 / %x23-7E / obs-text
				if c := opaque[i]; c < 0x21 || c == 0x7f {
					return nil, bad()
				}
			}
			if len(l.Tags) == maxTags {
				return nil, domain.FieldError(name, "lists more than %d entity tags", maxTags)
			}
			l.Tags = append(l.Tags, commands.ETag{Weak: weak, Version: tagVersion(opaque)})
			rest = strings.TrimLeft(rest[2+end:], " \t")
			if rest == "" {
				break
			}
			if rest[0] != ',' {
				return nil, bad()
			}
			rest = strings.TrimLeft(rest[1:], " \t,")
		}
	}
	if l.Any && len(l.Tags) > 0 {
		return nil, domain.FieldError(name, "is either * or a list of entity tags, not both")
	}
	if !l.Any && len(l.Tags) == 0 {
		return nil, bad()
	}
	return l, nil
}

// tagVersion is the item version an opaque tag names: the API's tags are
// decimal versions; anything else is -1 (a tag it never issued).
func tagVersion(opaque string) int64 {
	if opaque == "" || (len(opaque) > 1 && opaque[0] == '0') {
		return -1
	}
	for i := 0; i < len(opaque); i++ {
		if opaque[i] < '0' || opaque[i] > '9' {
			return -1
		}
	}
	v, err := strconv.ParseInt(opaque, 10, 64)
	if err != nil {
		return -1
	}
	return v
}
