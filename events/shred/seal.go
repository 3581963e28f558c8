package shred

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tenantstream/tenantstream/events"
)

// sealedMember is the member a sealed event's data starts with:
// "<key id>.<base64url(nonce | AES-256-GCM ciphertext)>".
const sealedMember = "_sealed"

var sealedPrefix = []byte(`{"` + sealedMember + `":"`)

// hashPrefix starts every keyed hash HashValues leaves in clear.
const hashPrefix = "h1:"

// ErrTampered is returned for sealed data that does not open under its key:
// ciphertext edited, moved to another event, or a key id that is not the
// tenant's. It is an events.ErrInvalid.
var ErrTampered = fmt.Errorf("%w: sealed event data does not authenticate", events.ErrInvalid)

// identity is what a ciphertext is bound to (its additional data).
type identity struct {
	keyTenant, tenant events.TenantID
	stream            events.StreamID
	id, typ           string
	schemaVersion     int
}

func identityOf(ev events.Event, keyTenant events.TenantID) identity {
	return identity{keyTenant: keyTenant, tenant: ev.TenantID, stream: ev.StreamID, id: ev.ID, typ: ev.Type, schemaVersion: ev.SchemaVersion}
}

// aad binds a ciphertext to the event it was sealed for and the key that
// sealed it. The stream version is not in it: the store assigns it after
// sealing (an append at "any" version), and the id, unique in the tenant,
// already names one event.
func (id identity) aad(keyID string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "tenantstream sealed event v1"...)
	for _, s := range []string{string(id.keyTenant), string(id.tenant), string(id.stream), id.id, id.typ, strconv.Itoa(id.schemaVersion), keyID} {
		b = append(b, 0)
		b = append(b, s...)
	}
	return b
}

// dataKey is one tenant data key ready to use.
type dataKey struct {
	id   string
	aead cipher.AEAD
	hash []byte // HMAC key of HashValues, derived from the data key
}

// hashObject replaces each string value of a JSON object by its keyed hash
// "h1:<base64url(HMAC-SHA256(k, name, 0, value)[:16])>", keeping the members'
// order.
func (k *dataKey) hashObject(raw json.RawMessage) (json.RawMessage, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, k.hash)
	var sum [sha256.Size]byte
	out := make([]byte, 0, len(o)*(len(hashPrefix)+32))
	for i := range o {
		v := o[i].val
		if len(v) < 2 || v[0] != '"' {
			return nil, fmt.Errorf("member %q is not a string", o[i].key)
		}
		s := v[1 : len(v)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			var dec string
			if err := json.Unmarshal(v, &dec); err != nil {
				return nil, err
			}
			s = []byte(dec)
		}
		m.Reset()
		m.Write(o[i].key)
		m.Write([]byte{0})
		m.Write(s)
		start := len(out)
		out = append(out, '"')
		out = append(out, hashPrefix...)
		out = base64.RawURLEncoding.AppendEncode(out, m.Sum(sum[:0])[:16])
		out = append(out, '"')
		o[i].val = out[start:len(out):len(out)]
	}
	return o.appendTo(nil, nil), nil
}

// conceal replaces one field's value in clear.
func (k *dataKey) conceal(p path, v json.RawMessage) (json.RawMessage, error) {
	if p.mode == HashValues {
		return k.hashObject(v)
	}
	return null, nil
}

// seal returns data with c's fields moved into a ciphertext under k, or data
// unchanged when none of them is present.
func seal(id identity, data []byte, c compiled, k *dataKey) ([]byte, error) {
	top, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: seal %s: %v", events.ErrInvalid, id.typ, err)
	}
	if top.index(sealedMember) >= 0 {
		return nil, fmt.Errorf("%w: seal %s: the member %q is reserved", events.ErrInvalid, id.typ, sealedMember)
	}
	var blob object
	for _, p := range c.paths {
		if p.array == "" {
			i := top.index(p.member)
			if i < 0 || isNull(top[i].val) {
				continue
			}
			v, err := k.conceal(p, top[i].val)
			if err != nil {
				return nil, fmt.Errorf("%w: seal %s.%s: %v", events.ErrInvalid, id.typ, p.member, err)
			}
			blob = append(blob, member{key: []byte(p.member), val: top[i].val})
			top[i].val = v
			continue
		}
		ai := top.index(p.array)
		if ai < 0 || isNull(top[ai].val) {
			continue
		}
		elems, err := parseArray(top[ai].val)
		if err != nil {
			return nil, fmt.Errorf("%w: seal %s.%s: %v", events.ErrInvalid, id.typ, p.array, err)
		}
		originals := make([]json.RawMessage, len(elems))
		found := false
		for j, e := range elems {
			originals[j] = null
			o, err := parseObject(e)
			if err != nil {
				return nil, fmt.Errorf("%w: seal %s.%s[%d]: %v", events.ErrInvalid, id.typ, p.array, j, err)
			}
			mi := o.index(p.member)
			if mi < 0 || isNull(o[mi].val) {
				continue
			}
			v, err := k.conceal(p, o[mi].val)
			if err != nil {
				return nil, fmt.Errorf("%w: seal %s.%s[%d].%s: %v", events.ErrInvalid, id.typ, p.array, j, p.member, err)
			}
			originals[j], o[mi].val, found = o[mi].val, v, true
			elems[j] = o.appendTo(nil, nil)
		}
		if found {
			blob = append(blob, member{key: []byte(p.array + "[]." + p.member), val: appendArray(nil, originals)})
			top[ai].val = appendArray(nil, elems)
		}
	}
	if len(blob) == 0 {
		return data, nil
	}
	plain := blob.appendTo(nil, nil)
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: nonce: %w", id.typ, err)
	}
	ct := k.aead.Seal(nonce, nonce, plain, id.aad(k.id))
	prefix := make([]byte, 0, len(sealedPrefix)+len(k.id)+2+base64.RawURLEncoding.EncodedLen(len(ct)))
	prefix = append(prefix, `"`+sealedMember+`":"`...)
	prefix = append(prefix, k.id...)
	prefix = append(prefix, '.')
	prefix = base64.RawURLEncoding.AppendEncode(prefix, ct)
	prefix = append(prefix, '"')
	return top.appendTo(make([]byte, 0, len(prefix)+len(data)+16), prefix), nil
}

// sealedKeyID returns the key id of sealed data, or ok false for data in clear.
func sealedKeyID(data []byte) (string, bool) {
	if !bytes.HasPrefix(data, sealedPrefix) {
		return "", false
	}
	rest := data[len(sealedPrefix):]
	dot := bytes.IndexByte(rest, '.')
	if dot <= 0 {
		return "", false
	}
	return string(rest[:dot]), true
}

// split parses sealed data into the clear members and the ciphertext.
func split(data []byte) (object, string, []byte, error) {
	top, err := parseObject(data)
	if err != nil || len(top) == 0 || string(top[0].key) != sealedMember {
		return nil, "", nil, ErrTampered
	}
	v := top[0].val
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, "", nil, ErrTampered
	}
	// base64url and a key id never need escapes: the string's bytes are its text.
	kid, enc, ok := bytes.Cut(v[1:len(v)-1], []byte("."))
	if !ok {
		return nil, "", nil, ErrTampered
	}
	ct := make([]byte, base64.RawURLEncoding.DecodedLen(len(enc)))
	n, err := base64.RawURLEncoding.Decode(ct, enc)
	if err != nil {
		return nil, "", nil, ErrTampered
	}
	ct = ct[:n]
	return top[1:], string(kid), ct, nil
}

// open returns the data as it was before seal.
func open(id identity, data []byte, k *dataKey) ([]byte, error) {
	top, kid, ct, err := split(data)
	if err != nil {
		return nil, err
	}
	ns := k.aead.NonceSize()
	if kid != k.id || len(ct) < ns+k.aead.Overhead() {
		return nil, ErrTampered
	}
	plain, err := k.aead.Open(nil, ct[:ns], ct[ns:], id.aad(kid))
	if err != nil {
		return nil, ErrTampered
	}
	blob, err := parseObject(plain)
	if err != nil {
		return nil, ErrTampered
	}
	for _, b := range blob {
		arr, mem, isArray := cutPath(string(b.key))
		if !isArray {
			if i := top.index(mem); i >= 0 {
				top[i].val = b.val
				continue
			}
			return nil, ErrTampered
		}
		ai := top.index(arr)
		if ai < 0 {
			return nil, ErrTampered
		}
		elems, err := parseArray(top[ai].val)
		if err != nil {
			return nil, ErrTampered
		}
		originals, err := parseArray(b.val)
		if err != nil || len(originals) != len(elems) {
			return nil, ErrTampered
		}
		for j, v := range originals {
			if isNull(v) {
				continue
			}
			o, err := parseObject(elems[j])
			if err != nil {
				return nil, ErrTampered
			}
			mi := o.index(mem)
			if mi < 0 {
				return nil, ErrTampered
			}
			o[mi].val = v
			elems[j] = o.appendTo(nil, nil)
		}
		top[ai].val = appendArray(nil, elems)
	}
	return top.appendTo(make([]byte, 0, len(data)), nil), nil
}

func cutPath(p string) (array, member string, isArray bool) {
	if a, m, ok := bytes.Cut([]byte(p), []byte("[].")); ok {
		return string(a), string(m), true
	}
	return "", p, false
}

// redact returns sealed data without its ciphertext: what a reader gets once
// the key is destroyed (sealed fields null, hashed values kept).
func redact(data []byte) ([]byte, error) {
	top, _, _, err := split(data)
	if err != nil {
		return nil, err
	}
	return top.appendTo(nil, nil), nil
}

var errNoKey = errors.New("no key")
