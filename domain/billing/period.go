package billing

import (
	"fmt"
	"time"
)

// Period is a billing period: one calendar month in UTC (docs/ARCHITECTURE.md, decision 8).
type Period struct {
	Year  int
	Month time.Month
}

// PeriodOf returns the period containing t, read in UTC.
func PeriodOf(t time.Time) Period {
	u := t.UTC()
	return Period{Year: u.Year(), Month: u.Month()}
}

// ParsePeriod parses "YYYY-MM" strictly.
func ParsePeriod(s string) (Period, error) {
	if len(s) != 7 || s[4] != '-' {
		return Period{}, fmt.Errorf("parse period %q: %w: want YYYY-MM", s, ErrInvalidPeriod)
	}
	year, month := 0, 0
	for i, c := range []byte(s) {
		if i == 4 {
			continue
		}
		if c < '0' || c > '9' {
			return Period{}, fmt.Errorf("parse period %q: %w: want YYYY-MM", s, ErrInvalidPeriod)
		}
		if i < 4 {
			year = year*10 + int(c-'0')
		} else {
			month = month*10 + int(c-'0')
		}
	}
	if year < 1 || month < 1 || month > 12 {
		return Period{}, fmt.Errorf("parse period %q: %w: month must be 01-12 and year 0001-9999", s, ErrInvalidPeriod)
	}
	return Period{Year: year, Month: time.Month(month)}, nil
}

// Start is the first instant of the period.
func (p Period) Start() time.Time { return time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, time.UTC) }

// End is the first instant after the period; periods are half-open [Start, End).
func (p Period) End() time.Time { return p.Next().Start() }

// Contains reports whether t falls in [Start, End).
func (p Period) Contains(t time.Time) bool {
	return !t.Before(p.Start()) && t.Before(p.End())
}

// Days is the number of UTC days in the period.
func (p Period) Days() int { return int(p.End().Sub(p.Start()) / (24 * time.Hour)) }

// Next is the following period.
func (p Period) Next() Period {
	if p.Month == time.December {
		return Period{Year: p.Year + 1, Month: time.January}
	}
	return Period{Year: p.Year, Month: p.Month + 1}
}

// Prev is the preceding period.
func (p Period) Prev() Period {
	if p.Month == time.January {
		return Period{Year: p.Year - 1, Month: time.December}
	}
	return Period{Year: p.Year, Month: p.Month - 1}
}

// IsZero reports whether p is the zero Period.
func (p Period) IsZero() bool { return p.Year == 0 && p.Month == 0 }

// String formats the period as YYYY-MM.
func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month)) }

// MarshalText encodes the period as YYYY-MM.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes YYYY-MM.
func (p *Period) UnmarshalText(b []byte) error {
	q, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
