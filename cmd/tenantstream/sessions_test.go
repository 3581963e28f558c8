package main

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/problem"
)

// TestSessionsOverHTTP is acceptance 2 of issue 14 against the real server: a
// refresh rotates its token, a replayed one revokes the session, logout and a
// password change revoke, and no refresh token is ever written to the data
// directory or the log.
func TestSessionsOverHTTP(t *testing.T) {
	start := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	logs := &syncBuffer{}
	app := startLiveApp(t, Config{TestClock: true, StartAt: start, Grace: time.Hour, FlushInterval: time.Hour, ScheduleInterval: time.Hour, DeliverInterval: time.Hour,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a := app.onboard(t, "sessions-alpha")
	refresh := func(token string) liveResponse {
		return app.do(t, "POST", "/auth/refresh", "", map[string]string{"refresh_token": token})
	}
	var seen []string

	first := app.login(t, a)
	seen = append(seen, first.RefreshToken)
	var second liveTokens
	app.must(t, http.StatusOK, &second, "POST", "/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	require.NotEmpty(t, second.RefreshToken)
	require.NotEqual(t, first.RefreshToken, second.RefreshToken)
	seen = append(seen, second.RefreshToken)
	app.must(t, http.StatusOK, nil, "GET", "/tenants/"+a.ID, second.AccessToken, nil)

	// A replay of the first token: 401, and the second (the live one) dies with it.
	res := refresh(first.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res)
	assert.Equal(t, problem.ContentType, res.header.Get("Content-Type"))
	assert.Equal(t, http.StatusUnauthorized, refresh(second.RefreshToken).status, "a reuse revokes the family")

	// Logout.
	third := app.login(t, a)
	seen = append(seen, third.RefreshToken)
	app.must(t, http.StatusNoContent, nil, "POST", "/auth/logout", "", map[string]string{"refresh_token": third.RefreshToken})
	assert.Equal(t, http.StatusUnauthorized, refresh(third.RefreshToken).status)
	app.must(t, http.StatusNoContent, nil, "POST", "/auth/logout", "", map[string]string{"refresh_token": "tsr_not.a.realtokenrealtokenrealtokenrealtoke"})

	// A password change ends the other sessions and starts a new one.
	other := app.login(t, a)
	seen = append(seen, other.RefreshToken)
	mine := app.login(t, a)
	var changed liveTokens
	app.must(t, http.StatusOK, &changed, "POST", "/auth/password", mine.AccessToken, map[string]string{"current_password": a.Password, "new_password": "N3w-Horse-Battery!"})
	seen = append(seen, mine.RefreshToken, changed.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, refresh(other.RefreshToken).status)
	assert.Equal(t, http.StatusUnauthorized, refresh(mine.RefreshToken).status)
	app.must(t, http.StatusOK, nil, "POST", "/auth/refresh", "", map[string]string{"refresh_token": changed.RefreshToken})
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "POST", "/auth/login", "", map[string]string{"tenant_name": a.Name, "email": a.Email, "password": a.Password}).status)

	// The access token of a revoked session works until it expires (5 minutes
	// and the 30 s leeway), then not.
	app.must(t, http.StatusOK, nil, "GET", "/tenants/"+a.ID, other.AccessToken, nil)
	app.must(t, http.StatusOK, nil, "POST", "/test-clock", "", map[string]any{"now": start.Add(6 * time.Minute)})
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "GET", "/tenants/"+a.ID, other.AccessToken, nil).status)

	// No refresh token is in any file of the data directory or the log, while
	// the sessions themselves are (so the files searched are the right ones).
	sessionID := strings.Split(first.RefreshToken, ".")[1]
	idSeen := false
	require.NoError(t, filepath.WalkDir(app.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // the operator socket is not a file to read
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, tok := range seen {
			assert.False(t, bytes.Contains(raw, []byte(tok[len(tok)-32:])), "%s holds a refresh token's secret", path)
		}
		idSeen = idSeen || bytes.Contains(raw, []byte(sessionID))
		return nil
	}))
	assert.True(t, idSeen, "no file of the data directory holds the session")
	for _, tok := range seen {
		assert.NotContains(t, logText(logs), tok[len(tok)-32:], "a refresh token was logged")
	}
}
