package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RouteClass groups the API's authenticated routes for rate limiting
// (docs/billing.md, "Rate limits"): every GET is read, a usage report is usage,
// every other request is write.
type RouteClass string

// The route classes. ClassDefault is not a class of any route: it is the limit
// of each class a plan does not list (each class still has its own budget).
const (
	ClassRead    RouteClass = "read"
	ClassWrite   RouteClass = "write"
	ClassUsage   RouteClass = "usage"
	ClassDefault RouteClass = "default"
)

// RouteClasses are the classes of routes, in the order headers and errors name them.
func RouteClasses() []RouteClass { return []RouteClass{ClassRead, ClassWrite, ClassUsage} }

// Limits of one rate limit: beyond them a catalogue is a mistake, not a plan.
const (
	maxRateLimit = 1_000_000
)

// ratePeriods are the windows a limit may be written over, in canonical form.
var ratePeriods = map[string]time.Duration{"1s": time.Second, "1m": time.Minute, "1h": time.Hour}

// RateLimit allows Rate requests per Per on average, Burst of them at once
// (a token bucket; GCRA in handlers/ratelimit). Per is "1s", "1m" or "1h".
// A validated limit always has Burst set (0 in a document means Rate), so its
// canonical JSON names one limit one way.
type RateLimit struct {
	Rate  int    `json:"rate"`
	Per   string `json:"per"`
	Burst int    `json:"burst"`
}

// Period is Per as a duration (0 for a limit that was not validated).
func (l RateLimit) Period() time.Duration { return ratePeriods[l.Per] }

// Interval is one request's worth of time: Per / Rate.
func (l RateLimit) Interval() time.Duration {
	if l.Rate <= 0 {
		return 0
	}
	return l.Period() / time.Duration(l.Rate)
}

// Exceeds reports whether l allows more than o: a higher sustained rate, or the
// same rate with a larger burst.
func (l RateLimit) Exceeds(o RateLimit) bool {
	li, oi := l.Interval(), o.Interval()
	return li < oi || li == oi && l.Burst > o.Burst
}

func (l RateLimit) String() string {
	return fmt.Sprintf("%d per %s, burst %d", l.Rate, l.Per, l.Burst)
}

// RateLimits are a plan's request limits per route class, "rate_limits:" in a
// catalogue. A plan without them (nil) is not limited per tenant: a limit is a
// term of a plan version, and versions published before limits existed keep
// meaning what they meant (decision 14). The document is decoded leniently and
// every problem is reported by the catalogue's validation with its full path.
type RateLimits struct {
	Classes map[RouteClass]RateLimit

	problems []*FieldError // paths relative to rate_limits
}

// For is the limit of a route class: the class's own, else the default; false
// when neither is set (or the plan has no rate limits at all).
func (r *RateLimits) For(c RouteClass) (RateLimit, bool) {
	if r == nil {
		return RateLimit{}, false
	}
	if l, ok := r.Classes[c]; ok {
		return l, true
	}
	l, ok := r.Classes[ClassDefault]
	return l, ok
}

// MarshalJSON writes the canonical form: classes in sorted order (encoding/json
// sorts map keys), every limit with its burst.
func (r RateLimits) MarshalJSON() ([]byte, error) {
	if r.Classes == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(r.Classes)
}

// UnmarshalJSON reads a rate_limits object. Anything but an object is an error;
// problems inside it (an unknown class or field, a bad number) are kept for
// validation, which names them with the plan's path.
func (r *RateLimits) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return fmt.Errorf("rate_limits: must be an object of route classes (%s)", classList())
	}
	*r = RateLimits{Classes: map[RouteClass]RateLimit{}}
	for _, name := range sortedKeys(raw) {
		c := RouteClass(name)
		if !slices.Contains(RouteClasses(), c) && c != ClassDefault {
			r.problems = append(r.problems, &FieldError{Path: name, Message: fmt.Sprintf("unknown route class (want %s)", classList())})
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw[name]))
		dec.DisallowUnknownFields()
		var l RateLimit
		if err := dec.Decode(&l); err != nil {
			r.problems = append(r.problems, decodeProblem(name, err))
			continue
		}
		r.Classes[c] = l
	}
	return nil
}

func decodeProblem(class string, err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "an integer"
		if te.Field == "per" {
			want = "a string: 1s, 1m or 1h"
		}
		return &FieldError{Path: class + "." + te.Field, Message: "must be " + want}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FieldError{Path: class, Message: "unknown field " + f + " (want rate, per, burst)"}
	}
	return &FieldError{Path: class, Message: "must be an object {rate, per, burst}"}
}

// validate reports the document's problems and checks each limit, filling in
// the burst (the rate when absent) so the plan's canonical JSON is one form.
func (r *RateLimits) validate(v *validator, path string) {
	if r == nil {
		return
	}
	for _, p := range r.problems {
		v.add(path+"."+p.Path, "%s", p.Message)
	}
	if len(r.Classes) == 0 && len(r.problems) == 0 {
		v.add(path, "must set at least one route class (%s); leave rate_limits out for none", classList())
	}
	for _, c := range sortedKeys(r.Classes) {
		l := r.Classes[c]
		p := path + "." + string(c)
		if l.Rate < 1 || l.Rate > maxRateLimit {
			v.add(p+".rate", "must be an integer from 1 to %d", maxRateLimit)
		}
		if _, ok := ratePeriods[l.Per]; !ok {
			v.add(p+".per", "must be 1s, 1m or 1h")
		}
		if l.Burst == 0 {
			l.Burst = l.Rate
		}
		if l.Burst < 1 || l.Burst > maxRateLimit {
			v.add(p+".burst", "must be an integer from 1 to %d (absent: the rate)", maxRateLimit)
		}
		r.Classes[c] = l
	}
}

func classList() string {
	var names []string
	for _, c := range RouteClasses() {
		names = append(names, string(c))
	}
	return strings.Join(append(names, string(ClassDefault)), ", ")
}

// sortedKeys are m's keys in order (the package's own maps() is a copy helper,
// so the standard maps package is not imported here).
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
