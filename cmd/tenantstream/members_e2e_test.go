package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notificationsOf delivers what is due and returns the delivered notifications
// of one type from the JSON-lines file, the way a mailer would read them.
func (l *liveApp) notificationsOf(tb testing.TB, typ string) []map[string]any {
	tb.Helper()
	l.settle(tb)
	_, err := l.Dispatcher.Deliver(tb.Context())
	require.NoError(tb, err)
	f, err := os.Open(filepath.Join(l.dir, "notifications.jsonl"))
	require.NoError(tb, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var n map[string]any
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &n))
		if n["type"] == typ {
			out = append(out, n)
		}
	}
	require.NoError(tb, sc.Err())
	return out
}

// TestInviteAcceptPromoteRemoveOverHTTP is acceptance 1 (and 6) of issue 14
// against the real server: an admin invites, the invitee accepts with the
// token the notification carried and logs in, the admin changes the new
// member's role and removes them; the removed member's refresh token fails at
// once and its access token once it expires (5 minutes and the leeway); the
// audit log shows every step with its actor, and no secret.
func TestInviteAcceptPromoteRemoveOverHTTP(t *testing.T) {
	start := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	app := startLiveApp(t, Config{TestClock: true, StartAt: start, Grace: time.Hour, FlushInterval: time.Hour, ScheduleInterval: time.Hour, DeliverInterval: time.Hour})
	a := app.onboard(t, "invites-alpha")
	admin := app.login(t, a)
	pa := "/tenants/" + a.ID

	var inv struct {
		InvitationID string    `json:"invitation_id"`
		ExpiresAt    time.Time `json:"expires_at"`
	}
	app.must(t, http.StatusCreated, &inv, "POST", pa+"/invitations", admin.AccessToken, map[string]any{"email": "carol@invites.example"})
	assert.WithinDuration(t, start.Add(7*24*time.Hour), inv.ExpiresAt, time.Minute)
	var pending struct {
		Invitations []struct {
			InvitationID string `json:"invitation_id"`
		} `json:"invitations"`
	}
	app.settle(t)
	app.must(t, http.StatusOK, &pending, "GET", pa+"/invitations", admin.AccessToken, nil)
	require.Len(t, pending.Invitations, 1)

	sent := app.notificationsOf(t, "invitation.created")
	require.Len(t, sent, 1)
	data, _ := sent[0]["data"].(map[string]any)
	token, _ := data["accept_token"].(string)
	require.True(t, strings.HasPrefix(token, "tsi_"), "the notification carries the accept token: %v", sent[0])
	assert.Equal(t, "carol@invites.example", data["email"])

	// Accept: the answer is a login's; a second accept of the token is refused.
	const password = "Car0l-Battery-Staple"
	var carol liveTokens
	app.must(t, http.StatusOK, &carol, "POST", "/invitations/accept", "", map[string]string{"token": token, "password": "Car0l-Battery-Staple"})
	require.NotEmpty(t, carol.RefreshToken)
	res := app.do(t, "POST", "/invitations/accept", "", map[string]string{"token": token, "password": "Someone-else-1234"})
	assert.Equal(t, http.StatusBadRequest, res.status, "%s", res)
	carolLogin := app.login(t, liveTenant{Name: a.Name, Email: "carol@invites.example", Password: password})
	app.must(t, http.StatusOK, nil, "GET", pa+"/data", carolLogin.AccessToken, nil)
	var me struct {
		Principal struct {
			UserID string `json:"user_id"`
		} `json:"principal"`
		Roles []string `json:"roles"`
	}
	app.must(t, http.StatusOK, &me, "GET", "/me", carolLogin.AccessToken, nil)
	assert.Equal(t, []string{"tenant_member"}, me.Roles)
	carolID := me.Principal.UserID
	require.NotEmpty(t, carolID)
	assert.Equal(t, http.StatusForbidden, app.do(t, "GET", pa+"/users", carolLogin.AccessToken, nil).status, "a member is no admin")

	// Promote, then remove.
	app.must(t, http.StatusOK, nil, "PATCH", pa+"/users/"+carolID, admin.AccessToken, map[string]any{"roles": []string{"tenant_admin"}})
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "POST", "/auth/refresh", "", map[string]string{"refresh_token": carolLogin.RefreshToken}).status, "a role change ends the sessions")
	promoted := app.login(t, liveTenant{Name: a.Name, Email: "carol@invites.example", Password: password})
	app.must(t, http.StatusOK, nil, "GET", pa+"/users", promoted.AccessToken, nil)
	app.must(t, http.StatusNoContent, nil, "DELETE", pa+"/users/"+carolID, admin.AccessToken, nil)

	// The refresh token fails at once; admin powers at once; the access token within the bound.
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "POST", "/auth/refresh", "", map[string]string{"refresh_token": promoted.RefreshToken}).status)
	assert.Equal(t, http.StatusForbidden, app.do(t, "GET", pa+"/users", promoted.AccessToken, nil).status, "a removed admin's token manages nothing")
	app.must(t, http.StatusOK, nil, "GET", pa+"/data", promoted.AccessToken, nil) // still within its 5 minutes
	app.must(t, http.StatusOK, nil, "POST", "/test-clock", "", map[string]any{"now": start.Add(6 * time.Minute)})
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "GET", pa+"/data", promoted.AccessToken, nil).status, "the access token fails once it expires")
	assert.Equal(t, http.StatusUnauthorized, app.do(t, "POST", "/auth/login", "", map[string]string{"tenant_name": a.Name, "email": "carol@invites.example", "password": password}).status)

	// The audit log: every step, with its actor, and no secret.
	admin = app.login(t, a)
	type entry struct {
		Action string `json:"action"`
		Actor  struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"actor"`
	}
	var all []entry
	var raw bytes.Buffer
	after := ""
	for {
		var page struct {
			Entries    []entry `json:"entries"`
			NextCursor string  `json:"next_cursor"`
			More       bool    `json:"more"`
		}
		res := app.do(t, "GET", pa+"/audit-log?limit=1000&after="+after, admin.AccessToken, nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		raw.Write(res.body)
		require.NoError(t, json.Unmarshal(res.body, &page))
		all = append(all, page.Entries...)
		if !page.More {
			break
		}
		after = page.NextCursor
	}
	actors := map[string][]string{}
	for _, e := range all {
		actors[e.Action] = append(actors[e.Action], e.Actor.Name)
	}
	for action, who := range map[string]string{
		"invitation.created":   a.Email,
		"invitation.accepted":  "carol@invites.example",
		"member.roles_changed": a.Email,
		"member.removed":       a.Email,
	} {
		assert.Contains(t, actors[action], who, "%s by %s: %v", action, who, actors)
	}
	assert.Contains(t, actors["member.added"], "carol@invites.example", "the accept added carol: %v", actors["member.added"])
	assert.Contains(t, actors["session.started"], "carol@invites.example")
	assert.Contains(t, actors["session.started"], a.Email)
	for _, secret := range []string{token, token[strings.LastIndex(token, ".")+1:], password, "password_hash", "refresh_hash", "$argon2id$"} {
		assert.NotContains(t, raw.String(), secret)
	}
}
