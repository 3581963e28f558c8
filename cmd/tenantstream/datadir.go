package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain/clock"
)

// What a data directory remembers besides its stores, so that a restart
// continues where the last run stopped (docs/ARCHITECTURE.md, "Operations").
const (
	// testClockFile holds the test clock's offset from the wall clock.
	testClockFile = "test-clock.json"
	// issuerFile holds the token issuer URL of the directory's first run.
	issuerFile = "issuer"
)

// savedClock is the test clock as testClockFile keeps it: a reading and the
// wall-clock time it was taken at, whose difference is the clock's offset.
type savedClock struct {
	Now  time.Time `json:"now"`
	Wall time.Time `json:"wall"`
}

// dataDirClock is the business clock of a data directory. A directory that ran
// on the test clock keeps running on it: its events are dated on that clock, so
// on the wall clock its tokens would look issued in the future and an invoiced
// period open again. testClock (serve --test-clock) makes a test clock, resumed
// from the saved one (ahead of the wall clock or behind it) unless start is
// later, else started at start (zero: now). Without it, a saved
// clock still ahead of the wall clock is an error that says what to do;
// readOnly (the operator tools) runs on the saved clock, ahead or behind.
func dataDirClock(dir string, testClock, readOnly bool, start time.Time) (clock.Clock, *clock.Test, error) {
	saved, found, err := loadTestClock(dir)
	if err != nil {
		return nil, nil, err
	}
	wall := time.Now()
	var resumed time.Time
	if found {
		resumed = wall.Add(saved.Now.Sub(saved.Wall))
	}
	switch {
	case testClock:
		// Resume where the directory's clock is, even behind the wall clock
		// (a simulation that started in the past); a later start asked for wins.
		switch {
		case found && resumed.After(start):
			start = resumed
		case start.IsZero():
			start = wall
		}
		t := clock.NewTest(start)
		return t, t, nil
	case found && readOnly:
		return clock.NewTest(resumed), nil, nil
	case !found:
		return clock.System{}, nil, nil
	case !resumed.After(wall):
		// The server goes on on the wall clock, which has overtaken the test
		// clock: the directory's clock is the wall clock from now on, for the
		// operator tools too.
		if err := os.Remove(filepath.Join(dir, testClockFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("forget the test clock: %w", err)
		}
		return clock.System{}, nil, nil
	}
	return nil, nil, fmt.Errorf("the data directory %s ran on the test clock, which is at %s, %s ahead of the wall clock: "+
		"start with --test-clock to continue on it, or use another data directory", dir, resumed.UTC().Format(time.RFC3339), resumed.Sub(wall).Round(time.Second))
}

func loadTestClock(dir string) (savedClock, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, testClockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return savedClock{}, false, nil
	}
	if err != nil {
		return savedClock{}, false, fmt.Errorf("read the test clock: %w", err)
	}
	var c savedClock
	if err := json.Unmarshal(b, &c); err != nil || c.Now.IsZero() || c.Wall.IsZero() {
		return savedClock{}, false, fmt.Errorf("%s is not a saved test clock; remove it to run on the wall clock", filepath.Join(dir, testClockFile))
	}
	return c, true, nil
}

// saveTestClock records the test clock's reading, durably (written aside,
// synced, then renamed into place), before the move is acknowledged.
func saveTestClock(dir string, now time.Time) error {
	b, err := json.Marshal(savedClock{Now: now.UTC(), Wall: time.Now().UTC()})
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, testClockFile, b)
}

// dataDirIssuer is the token issuer URL: the flag's when given, else the one
// the data directory recorded on its first run, else http://addr, recorded. So
// tokens keep verifying when the server comes back on another address.
func dataDirIssuer(dir, flag, addr string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, issuerFile))
	switch {
	case err == nil:
		if url := strings.TrimSpace(string(b)); url != "" {
			return url, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read the token issuer: %w", err)
	}
	url := "http://" + addr
	if err := writeFileAtomic(dir, issuerFile, []byte(url+"\n")); err != nil {
		return "", err
	}
	return url, nil
}

func writeFileAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
