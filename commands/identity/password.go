package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tenantstream/tenantstream/domain"
)

// Password length bounds. The minimum is Cognito's default; the maximum bounds the
// work an attacker can make the hasher do per request.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
)

// cognitoSymbols is Cognito's list of special characters for its password policy.
const cognitoSymbols = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "

// ValidatePassword checks a new password against a policy at least as strict as
// Cognito's default: 8-256 characters with an upper-case letter, a lower-case
// letter, a digit and a symbol. The error is a domain.Error naming the field
// "password" and saying everything that is missing at once.
func ValidatePassword(password string) error {
	if !utf8.ValidString(password) {
		return domain.FieldError("password", "Password must be valid UTF-8.")
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength || n > MaxPasswordLength {
		return domain.FieldError("password", "Password must be %d to %d characters long.", MinPasswordLength, MaxPasswordLength)
	}
	// Cognito refuses leading and trailing spaces: they are invisible and usually a paste accident.
	if strings.TrimSpace(password) != password {
		return domain.FieldError("password", "Password must not start or end with a space.")
	}
	var upper, lower, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsControl(r):
			return domain.FieldError("password", "Password must not contain control characters.")
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case strings.ContainsRune(cognitoSymbols, r), unicode.IsPunct(r), unicode.IsSymbol(r):
			symbol = true
		}
	}
	var missing []string
	if !upper {
		missing = append(missing, "an upper-case letter")
	}
	if !lower {
		missing = append(missing, "a lower-case letter")
	}
	if !digit {
		missing = append(missing, "a digit")
	}
	if !symbol {
		missing = append(missing, "a symbol")
	}
	if len(missing) > 0 {
		return domain.FieldError("password", "Password must contain %s.", joinAnd(missing))
	}
	return nil
}

func joinAnd(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
