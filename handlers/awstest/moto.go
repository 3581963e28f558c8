package awstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Moto is a running moto_server on a loopback port.
type Moto struct {
	// Endpoint is the base URL, such as http://127.0.0.1:49152.
	Endpoint string
	cmd      *exec.Cmd
}

var (
	shared    *Moto
	sharedErr error
	once      sync.Once
)

// InstallHint tells a developer how to get moto_server when it is missing.
const InstallHint = "moto_server is required for the AWS adapter tests: pip install 'moto[server]' (make test needs it; it is not skipped)"

// Start starts moto_server on a free loopback port and waits until it answers.
// It fails (never skips) when moto_server is not installed: CI must run these tests.
func Start() (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New(InstallHint)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	// Its own process group, so a SIGKILL reaches any worker it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("moto_server did not answer on %s within 60s: %w", m.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills moto_server by PID (SIGKILL: a large moto takes minutes to exit on SIGTERM).
func (m *Moto) Stop() {
	if m == nil || m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	_ = m.cmd.Process.Kill()
	_, _ = m.cmd.Process.Wait()
}

// Reset drops every resource moto holds, so tests start from empty tables
// (moto slows down as they grow).
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// Shared returns the test binary's moto_server, starting it on first use. Call
// Main from TestMain so it is stopped when the tests end.
func Shared(t testing.TB) *Moto {
	t.Helper()
	once.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared moto_server: use it as
//
//	func TestMain(m *testing.M) { awstest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}
