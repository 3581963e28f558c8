package commands

import (
	"fmt"

	"github.com/tenantstream/tenantstream/domain"
)

// ETag is one entity tag of an If-Match or If-None-Match list (RFC 9110 8.8.3).
// The API's tags are strong and name an item version ("3"); a missing or deleted
// item's tag is "0", so If-Match: "0" means "only if it does not exist".
type ETag struct {
	Weak bool
	// Version is the item version the tag names, or -1 for a well-formed tag this
	// API never issues (it matches nothing).
	Version int64
}

// TagList is an If-Match or If-None-Match value: "*" or a list of tags.
type TagList struct {
	Any  bool
	Tags []ETag
}

// Precondition holds a request's conditional headers (RFC 9110 section 13.1);
// nil lists are absent headers, and the zero Precondition is unconditional.
type Precondition struct {
	IfMatch, IfNoneMatch *TagList
}

// IfVersion is If-Match: "<v>" (v = 0: only if the item does not exist).
func IfVersion(v int64) Precondition {
	return Precondition{IfMatch: &TagList{Tags: []ETag{{Version: v}}}}
}

// IfExists is If-Match: * (only if the item exists).
func IfExists() Precondition { return Precondition{IfMatch: &TagList{Any: true}} }

// IfAbsent is If-None-Match: * (create only).
func IfAbsent() Precondition { return Precondition{IfNoneMatch: &TagList{Any: true}} }

// Conditional reports whether any precondition is present.
func (p Precondition) Conditional() bool { return p.IfMatch != nil || p.IfNoneMatch != nil }

// Failed evaluates the preconditions against an item's state, in RFC 9110
// 13.2.2's order, and returns the header that fails ("" when both hold). A
// deleted item counts as missing for every precondition. If-Match compares
// strongly (W/"3" never matches); If-None-Match weakly.
func (p Precondition) Failed(exists bool, version int64) string {
	tag := int64(0)
	if exists {
		tag = version
	}
	if l := p.IfMatch; l != nil {
		ok := l.Any && exists
		for _, t := range l.Tags {
			ok = ok || (!t.Weak && t.Version == tag)
		}
		if !ok {
			return "If-Match"
		}
	}
	if l := p.IfNoneMatch; l != nil {
		match := l.Any && exists
		for _, t := range l.Tags {
			match = match || t.Version == tag
		}
		if match {
			return "If-None-Match"
		}
	}
	return ""
}

// check is Failed as a 412 error for a write of itemID.
func (p Precondition) check(itemID string, exists bool, version int64) error {
	h := p.Failed(exists, version)
	if h == "" {
		return nil
	}
	state := "does not exist"
	if exists {
		state = fmt.Sprintf("is at version %d", version)
	}
	return &domain.Error{Code: domain.CodePreconditionFailed, Field: h, Message: fmt.Sprintf("item %q %s, which fails %s", itemID, state, h)}
}
