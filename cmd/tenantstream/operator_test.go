package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkPeer lets only the owner's uid in; where the system cannot tell a
// peer's uid the socket's mode is the check.
func TestOperatorCheckPeer(t *testing.T) {
	assert.NoError(t, checkPeer(1000, nil, 1000))
	err := checkPeer(1001, nil, 1000)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "uid 1001 is not the data directory's owner (uid 1000)")
	assert.NoError(t, checkPeer(-1, errPeerUnknown, 1000))
	assert.Error(t, checkPeer(-1, syscall.EINVAL, 1000), "an unreadable peer is refused")
}

// peerUID reads the connecting process's uid from the kernel.
func TestOperatorPeerUID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_PEERCRED is Linux's")
	}
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer c.Close()
	srv := <-accepted
	require.NotNil(t, srv)
	defer srv.Close()
	uid, err := peerUID(srv)
	require.NoError(t, err)
	assert.Equal(t, os.Getuid(), uid)
	uid, err = peerUID(c)
	require.NoError(t, err)
	assert.Equal(t, os.Getuid(), uid, "the client side tells the server's uid")
}

// The operator socket is served only from a directory nobody else can write.
func TestOperatorSocketNeedsAPrivateDirectory(t *testing.T) {
	srv := startServer(t, "", Config{})
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o777))
	_, err := listenOperator(srv.App, dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "group- or world-writable")
	require.NoError(t, os.Chmod(dir, 0o700))
	o, err := listenOperator(srv.App, dir)
	require.NoError(t, err)
	o.start(t.Context())
	o.Close()
	_, err = os.Lstat(filepath.Join(dir, operatorSocket))
	assert.True(t, os.IsNotExist(err), "Close removes the socket: %v", err)

	// The running server's socket is 0600.
	fi, err := os.Lstat(filepath.Join(srv.Data, operatorSocket))
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket|0o600, fi.Mode())
}

// A connection from another uid is refused with a clear answer before its
// request is read; malformed requests get a clear error and the server keeps
// serving.
func TestOperatorSocketRefusesStrangersAndMalformedRequests(t *testing.T) {
	srv := startServer(t, "", Config{})
	ctx := t.Context()
	post := func(path, body string) (int, string) {
		t.Helper()
		c := operatorClient(srv.Data)
		defer c.CloseIdleConnections()
		res, err := c.Post("http://tenantstream"+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer res.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(res.Body)
		return res.StatusCode, out.String()
	}

	t.Run("not the owner", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("peer credentials are Linux's SO_PEERCRED")
		}
		dir := t.TempDir()
		o, err := listenOperator(srv.App, dir)
		require.NoError(t, err)
		o.owner = os.Getuid() + 1 // as if this process were someone else
		o.start(ctx)
		defer o.Close()
		res, err := postOperator(ctx, dir, "/v1/projections/rebuild", rebuildRequest{Projections: []string{"tenants"}})
		require.NoError(t, err)
		defer res.Body.Close()
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		err = copyOperatorAnswer(res, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is not the data directory's owner")
	})

	t.Run("another user for real", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if os.Getuid() != 0 || err != nil {
			t.Skip("needs root (to run a process as another user) and curl")
		}
		// A data directory others may enter, so only the socket's mode stands in the way.
		data := filepath.Join(t.TempDir(), "d")
		for d := data; d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
				require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o005))
			}
		}
		require.NoError(t, os.Mkdir(data, 0o755))
		other := startServer(t, data, Config{})
		sock := filepath.Join(other.Data, operatorSocket)
		asNobody := func() (string, error) {
			cmd := exec.CommandContext(ctx, curl, "-sS", "--max-time", "5", "--unix-socket", sock, "-X", "POST",
				"-H", "Content-Type: application/json", "-d", `{"projections":["tenants"]}`, "http://tenantstream/v1/projections/rebuild")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := asNobody()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "the socket is 0600: %s", out)
		assert.Equal(t, 7, exit.ExitCode(), "curl could not connect (EACCES): %s", out)
		// Even with the socket's mode opened up, the server asks the kernel who it is.
		require.NoError(t, os.Chmod(sock, 0o666))
		out, err = asNobody()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, out, "uid 65534 is not the data directory's owner")
		assert.NotContains(t, out, `"exit"`, "nothing ran")
	})

	for _, tc := range []struct{ name, path, body, want string }{
		{"not JSON", "/v1/billing/close", "{not json", "malformed operator request"},
		{"unknown field", "/v1/billing/close", `{"period":"2026-01","rm":"-rf"}`, `unknown field`},
		{"two values", "/v1/projections/rebuild", `{"projections":["x"]}{}`, "more than one JSON value"},
		{"too large", "/v1/projections/rebuild", `{"projections":["` + strings.Repeat("a", maxOperatorRequest) + `"]}`, "too large"},
		{"bad period", "/v1/billing/close", `{"period":"2026-13"}`, "--period"},
		{"bad grace", "/v1/billing/close", `{"period":"2026-01","grace":"soon"}`, "--grace"},
		{"no projection", "/v1/projections/rebuild", `{}`, "name one projection"},
		{"unknown command", "/v1/tenants/delete", `{}`, "no operator command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.path, tc.body)
			assert.GreaterOrEqual(t, status, 400, "%s", body)
			assert.Less(t, status, 500, "%s", body)
			assert.Contains(t, body, tc.want)
		})
	}

	t.Run("not HTTP", func(t *testing.T) {
		c, err := net.Dial("unix", filepath.Join(srv.Data, operatorSocket))
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write([]byte("\x00\x01garbage\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 256)
		n, _ := c.Read(buf)
		assert.Contains(t, string(buf[:n]), "400 Bad Request")
	})

	// The server still answers, and runs commands.
	status, body := post("/v1/projections/rebuild", `{"projections":["tenants"]}`)
	require.Equal(t, http.StatusOK, status, "%s", body)
	assert.Contains(t, body, `"stdout":"rebuilt tenants\n"`)
	assert.Contains(t, body, `"exit":0`)
	r := srv.do(http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, r.Status)
}

// The CLI talks only to a socket of its own user.
func TestOperatorClientRefusesAForeignSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give the socket to another user")
	}
	srv := startServer(t, "", Config{})
	sock := filepath.Join(srv.Data, operatorSocket)
	require.NoError(t, os.Lchown(sock, 65534, 65534))
	_, err := postOperator(context.Background(), srv.Data, "/v1/projections/rebuild", rebuildRequest{Projections: []string{"tenants"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a socket of uid 0")
}
