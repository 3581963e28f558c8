package shred

import (
	"fmt"
	"strings"
)

// Mode says what sealing does with one field.
type Mode int

const (
	// Seal moves the value into the ciphertext; the clear form keeps null in
	// its place, so a decoder of an erased event sees the zero value.
	Seal Mode = iota
	// HashValues is for a JSON object of strings (usage properties): the
	// object moves into the ciphertext and the clear form keeps, for each
	// value, a keyed hash under a key derived from the tenant's data key. A
	// unique_count over the hashes equals the one over the values, so the
	// billing audit of an erased tenant still matches; after erasure nobody
	// holds the hash key, so a guess of a value cannot be tested.
	HashValues
)

// Field is one sealed field of an event type. Path is a top-level member
// ("admin_email") or a member of each object of a top-level array
// ("records[].properties").
type Field struct {
	Path string
	Mode Mode
}

// Spec says which fields of one event type are sealed.
type Spec struct {
	Fields []Field
	// KeyTenant, when set, names a top-level string member (kept in clear)
	// holding the tenant whose key seals the event: a platform event about a
	// tenant (a name reservation carries its admin's email). Empty: the
	// envelope's tenant.
	KeyTenant string
}

// Specs maps event type names to what is sealed in them. Types not in it are
// stored in clear.
type Specs map[string]Spec

// path is a parsed Field.Path: array is empty for a top-level member.
type path struct {
	array, member string
	mode          Mode
}

func parsePath(f Field) (path, error) {
	p := path{mode: f.Mode}
	switch a, m, ok := strings.Cut(f.Path, "[]."); {
	case ok && a != "" && m != "" && !strings.ContainsAny(m, ".[]"):
		p.array, p.member = a, m
	case !ok && f.Path != "" && !strings.ContainsAny(f.Path, ".[]"):
		p.member = f.Path
	default:
		return p, fmt.Errorf("shred: path %q: want member or array[].member", f.Path)
	}
	if p.member == sealedMember || p.array == sealedMember {
		return p, fmt.Errorf("shred: path %q names the sealed member", f.Path)
	}
	return p, nil
}

// compiled is a Spec ready to use.
type compiled struct {
	paths     []path
	keyTenant string
}

func compile(specs Specs) (map[string]compiled, error) {
	out := make(map[string]compiled, len(specs))
	for typ, s := range specs {
		c := compiled{keyTenant: s.KeyTenant}
		for _, f := range s.Fields {
			p, err := parsePath(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", typ, err)
			}
			c.paths = append(c.paths, p)
		}
		out[typ] = c
	}
	return out, nil
}
