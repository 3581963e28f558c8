//go:build !linux

package main

import (
	"errors"
	"testing"
)

func mountTmpfs(*testing.T, string) (string, error) {
	return "", errors.New("tmpfs mounts are Linux only")
}

func freeBytes(string) (int64, error) { return 0, errors.New("not supported") }
