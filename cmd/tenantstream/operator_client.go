package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// serverStartWait is how long an operator command waits for a server that
// holds the data-directory lock but does not answer on the socket yet (it is
// still opening the stores or backfilling projections).
var serverStartWait = 15 * time.Second

// errNoServer: nothing listens on the operator socket (no socket, or one a
// crashed server left behind).
var errNoServer = errors.New("no server answers on the operator socket")

// sendToServer runs an operator command on the server that serves the data
// directory, if one does (docs/ARCHITECTURE.md, "Operations"): it reports
// sent=false when the command should run here as before (another backend, no
// server running), else the command's outcome, with what the server printed
// copied to the command's stdout and stderr.
func (b *backendFlags) sendToServer(cmd *cobra.Command, path string, req any) (sent bool, err error) {
	if b.kind != backendSQLite {
		return false, nil
	}
	for _, name := range awsFlags {
		if cmd.Flags().Changed(name) {
			return false, nil // open says what is wrong
		}
	}
	if _, err := os.Stat(filepath.Join(b.data, "events.db")); err != nil {
		return false, nil
	}
	ctx := cmd.Context()
	res, err := postOperator(ctx, b.data, path, req)
	if errors.Is(err, errNoServer) {
		if !dataDirLocked(b.data) {
			return false, nil // no server: open the directory exclusively
		}
		// A server holds the lock but is not listening yet: wait for it.
		deadline := time.Now().Add(serverStartWait)
		for errors.Is(err, errNoServer) && time.Now().Before(deadline) && dataDirLocked(b.data) {
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			res, err = postOperator(ctx, b.data, path, req)
		}
		if errors.Is(err, errNoServer) {
			if !dataDirLocked(b.data) {
				return false, nil // it stopped meanwhile
			}
			return true, fmt.Errorf("data directory %s is in use by a tenantstream server that does not answer on %s "+
				"(it is still starting, predates operator commands, or did not serve the socket: see its log); stop the server first",
				b.data, filepath.Join(b.data, operatorSocket))
		}
	}
	if err != nil {
		return true, err
	}
	defer res.Body.Close()
	return true, copyOperatorAnswer(res, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// postOperator POSTs req as JSON to path on the data directory's operator socket.
func postOperator(ctx context.Context, dir, path string, req any) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	client := operatorClient(dir)
	defer client.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tenantstream"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	res, err := client.Do(hreq)
	if err != nil {
		if errors.Is(err, errNoServer) {
			return nil, errNoServer
		}
		var refused *refusedServer
		if errors.As(err, &refused) {
			return nil, refused
		}
		return nil, fmt.Errorf("operator socket: %w", err)
	}
	return res, nil
}

// refusedServer is a socket the CLI will not talk to: not the owner's.
type refusedServer struct{ reason string }

func (r *refusedServer) Error() string { return r.reason }

// operatorClient talks HTTP over the data directory's operator socket. It
// connects only to a socket the current user owns in a directory only that
// user can write, and (where the kernel tells) only to a server of the same
// uid, so another user cannot pose as the server.
func operatorClient(dir string) *http.Client {
	sock := filepath.Join(dir, operatorSocket)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		fi, err := os.Lstat(sock)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoServer
		}
		if err != nil {
			return nil, err
		}
		uid := os.Getuid()
		if fi.Mode().Type() != fs.ModeSocket || !ownedBy(fi, uid) {
			return nil, &refusedServer{fmt.Sprintf("%s is not a socket of uid %d; not sending the command to it", sock, uid)}
		}
		if err := checkPrivateDir(dir, uid); err != nil {
			return nil, &refusedServer{err.Error()}
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "unix", sock)
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
			return nil, errNoServer // a socket file nobody listens on
		}
		if err != nil {
			return nil, err
		}
		if peer, err := peerUID(c); !errors.Is(err, errPeerUnknown) && (err != nil || peer != uid) {
			c.Close()
			return nil, &refusedServer{fmt.Sprintf("%s is served by uid %d, not %d (%v); not sending the command to it", sock, peer, uid, err)}
		}
		return c, nil
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true, ResponseHeaderTimeout: time.Minute}}
}

// copyOperatorAnswer copies a command's streamed answer to stdout and stderr
// and returns its outcome as the command's error (nil, an exit status, or the
// server's error message).
func copyOperatorAnswer(res *http.Response, stdout, stderr io.Writer) error {
	if res.StatusCode != http.StatusOK {
		var e operatorError
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", res.Status, bytes.TrimSpace(b))
		}
		return errors.New(e.Error)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l operatorLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("operator socket: unreadable answer line %q: %w", sc.Bytes(), err)
		}
		io.WriteString(stdout, l.Stdout)
		io.WriteString(stderr, l.Stderr)
		if l.Exit != nil {
			return remoteOutcome(*l.Exit, l.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("operator socket: the answer broke off: %w", err)
	}
	return errors.New("operator socket: the server closed the connection before the command finished (see its log)")
}

// remoteOutcome is the error a command that ended with exit status code and
// message msg returns, so main prints and exits as the command would here.
func remoteOutcome(code int, msg string) error {
	switch {
	case code == 0:
		return nil
	case msg == "":
		return exitCode(code)
	case code == exitUsage:
		return usageError{errors.New(msg)}
	}
	return errors.New(msg)
}

// dataDirLocked reports whether a process holds the data-directory lock.
func dataDirLocked(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close() // releases the probe's lock
	return lockFile(f) != nil
}
