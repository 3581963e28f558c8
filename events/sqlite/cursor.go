package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantstream/tenantstream/events"
)

// cursorPrefix versions the cursor format so a later change can still read old cursors.
const cursorPrefix = "p1."

// encodeCursor turns a row position into a cursor.
func encodeCursor(pos int64) events.Cursor {
	return events.Cursor(cursorPrefix + strconv.FormatInt(pos, 10))
}

// parseCursor returns the position a cursor resumes after. The zero cursor is the
// beginning. Anything this store did not produce is ErrInvalidCursor: cursors come
// back from clients, so they are outside input.
func parseCursor(c events.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	s, ok := strings.CutPrefix(string(c), cursorPrefix)
	if !ok || s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("parse cursor %q: %w", string(c), events.ErrInvalidCursor)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("parse cursor %q: %w", string(c), events.ErrInvalidCursor)
		}
	}
	pos, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse cursor %q: %w", string(c), events.ErrInvalidCursor)
	}
	return pos, nil
}

// CursorPosition returns the store position a cursor of this store resumes
// after, for callers that compare a tail's progress with Head.
func CursorPosition(c events.Cursor) (int64, error) { return parseCursor(c) }
