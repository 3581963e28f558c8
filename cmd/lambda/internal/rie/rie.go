package rie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module is the Runtime Interface Emulator the tests install.
const Module = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

var installMu sync.Mutex

// Emulator returns the emulator binary, installing it into the user cache with
// go install when missing. A failed install fails the test: the Lambda tests
// never skip.
func Emulator(t testing.TB) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("user cache dir: %v", err)
	}
	dir := filepath.Join(cache, "tenantstream", "aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Lambda Runtime Interface Emulator is required and could not be installed (go install %s): %v\n%s", Module, err, out)
	}
	return bin
}

// Build builds the function package pkg (an import path or a directory) as
// Lambda runs it: a static linux/amd64 bootstrap without the RPC shim.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Function is one bootstrap running behind its own emulator.
type Function struct {
	Name string
	Addr string
	logs *syncBuffer
}

// Start runs bootstrap behind the emulator on a free loopback port with env
// added to this process's environment, and stops it (by process group) when
// the test ends, printing its output if the test failed.
func Start(t testing.TB, name, emulator, bootstrap string, env ...string) *Function {
	t.Helper()
	f := &Function{Name: name, Addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), logs: &syncBuffer{}}
	// The Runtime API gets its own free port too: its default, 127.0.0.1:9001,
	// would let only one emulator run on the machine at a time.
	runtimeAPI := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(emulator, "--runtime-interface-emulator-address", f.Addr, "--runtime-api-address", runtimeAPI, bootstrap)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator for %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("%s emulator output:\n%s", name, f.Logs())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", f.Addr)
		if err == nil {
			c.Close()
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator for %s did not listen on %s:\n%s", name, f.Addr, f.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs returns what the emulator and the function wrote so far.
func (f *Function) Logs() string { return f.logs.String() }

// InvokeRaw invokes the function with payload (marshalled unless it is
// []byte) and returns the function's response payload. A function error
// (the emulator's errorMessage/errorType payload) is returned as an error.
func (f *Function) InvokeRaw(payload any) ([]byte, error) {
	body, ok := payload.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("marshal %s payload: %w", f.Name, err)
		}
	}
	resp, err := http.Post("http://"+f.Addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", f.Name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s response: %w", f.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return raw, fmt.Errorf("invoke %s: HTTP %d: %s", f.Name, resp.StatusCode, raw)
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(raw, &fnErr) == nil && fnErr.ErrorMessage != "" {
		return raw, fmt.Errorf("%s failed: %s: %s", f.Name, fnErr.ErrorType, fnErr.ErrorMessage)
	}
	return raw, nil
}

// Invoke is InvokeRaw that fails the test on error and decodes the response into out (when not nil).
func (f *Function) Invoke(t testing.TB, payload, out any) {
	t.Helper()
	raw, err := f.InvokeRaw(payload)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("decode %s response %s: %v", f.Name, raw, err)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is written by the emulator's output copiers while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
