package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
)

func TestDataDirClockContinuesTheSavedTestClock(t *testing.T) {
	dir := t.TempDir()
	ahead := time.Now().Add(40 * 24 * time.Hour).UTC()
	require.NoError(t, saveTestClock(dir, ahead))

	// serve --test-clock resumes at the saved reading (plus the time since).
	clk, tc, err := dataDirClock(dir, true, false, time.Time{})
	require.NoError(t, err)
	require.NotNil(t, tc)
	assert.WithinDuration(t, ahead, clk.Now(), 5*time.Second)
	// A later start asked for (tests' StartAt) wins over an earlier saved one.
	later := ahead.Add(24 * time.Hour)
	clk, _, err = dataDirClock(dir, true, false, later)
	require.NoError(t, err)
	assert.WithinDuration(t, later, clk.Now(), 5*time.Second)

	// The operator tools read the directory on its clock.
	clk, tc, err = dataDirClock(dir, false, true, time.Time{})
	require.NoError(t, err)
	assert.Nil(t, tc, "the tools cannot move the clock")
	assert.WithinDuration(t, ahead, clk.Now(), 5*time.Second)

	// serve without --test-clock refuses, and says what to do.
	_, _, err = dataDirClock(dir, false, false, time.Time{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--test-clock")
	assert.Contains(t, err.Error(), ahead.Format("2006-01-02"))
}

func TestDataDirClockIsTheWallClockOtherwise(t *testing.T) {
	dir := t.TempDir()
	clk, tc, err := dataDirClock(dir, false, false, time.Time{})
	require.NoError(t, err)
	assert.Nil(t, tc)
	assert.Equal(t, clock.System{}, clk)

	// A test clock behind the wall clock (a simulation of the past) resumes there.
	behind := time.Now().Add(-90 * 24 * time.Hour)
	require.NoError(t, saveTestClock(dir, behind))
	clk, tc, err = dataDirClock(dir, true, false, time.Time{})
	require.NoError(t, err)
	require.NotNil(t, tc)
	assert.WithinDuration(t, behind, clk.Now(), 5*time.Second)

	// A saved clock the wall clock has overtaken is no reason to refuse.
	require.NoError(t, saveTestClock(dir, time.Now().Add(-time.Hour)))
	clk, _, err = dataDirClock(dir, false, false, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, clock.System{}, clk)

	require.NoError(t, os.WriteFile(filepath.Join(dir, testClockFile), []byte("{not json"), 0o600))
	_, _, err = dataDirClock(dir, false, false, time.Time{})
	assert.ErrorContains(t, err, "not a saved test clock")
}

func TestDataDirIssuerIsStable(t *testing.T) {
	dir := t.TempDir()
	first, err := dataDirIssuer(dir, "", "localhost:8080")
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8080", first)
	again, err := dataDirIssuer(dir, "", "localhost:9090")
	require.NoError(t, err)
	assert.Equal(t, first, again, "another address keeps the directory's issuer")
	flag, err := dataDirIssuer(dir, "https://auth.example.test", "localhost:9090")
	require.NoError(t, err)
	assert.Equal(t, "https://auth.example.test", flag, "--issuer wins")
}
