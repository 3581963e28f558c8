package commands_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
)

// slowDirectory behaves as the Cognito directory does (create, or complete a
// user it holds: the password is set either way) and holds the first
// CreateUser until released.
type slowDirectory struct {
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
	calls   int
	setBy   []string // the password each CreateUser set, in order
}

func (d *slowDirectory) CreateUser(_ context.Context, u commands.DirectoryUser) error {
	d.mu.Lock()
	d.calls++
	first := d.calls == 1
	d.mu.Unlock()
	if first {
		close(d.entered)
		<-d.release
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setBy = append(d.setBy, u.Password)
	return nil
}

// The email claim is a lease without a fence (the review that found this). An AddUser whose
// directory call is slow (Cognito throttling and SDK retries, a GC or network
// stall) past ClaimLease (30 s) has its claim taken over by a second AddUser of
// the same email with another password; createDirectoryUser checks that its
// claim is still the newest only before it calls the directory, so both
// requests call CreateUser and both set the user's password. The second request
// is answered 201 with its password, the first one's CreateUser then lands and
// overwrites it: the user the tenant admin was told exists with password B can
// only log in with password A (decision 13 promises "two requests never both
// set its password").
func TestASlowDirectoryCallIsNotTakenOverByAnotherRequest(t *testing.T) {
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, start)
	tid, m := f.onboard(t, "slowdir")
	dir := &slowDirectory{entered: make(chan struct{}), release: make(chan struct{})}
	f.svc.Users = dir

	var errA error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, errA = f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "bob@slowdir.test", Password: "Passw0rd-AAAA!"}, identity.ValidatePassword)
	}()
	<-dir.entered // A holds the claim and is inside the directory call
	require.NoError(t, f.clk.Set(start.Add(commands.ClaimLease+time.Second)))

	_, errB := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "bob@slowdir.test", Password: "Passw0rd-BBBB!"}, identity.ValidatePassword)
	close(dir.release)
	<-done

	t.Logf("A: %v; B: %v; passwords set in order: %v", errA, errB, dir.setBy)
	assert.LessOrEqual(t, len(dir.setBy), 1, "two requests both set bob's password: %v", dir.setBy)
	if errB == nil && len(dir.setBy) > 0 {
		assert.Equal(t, "Passw0rd-BBBB!", dir.setBy[len(dir.setBy)-1], "B was answered 201, but the directory keeps A's password")
	}
}
