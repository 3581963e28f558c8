//go:build !unix

package main

import "os"

// lockFile is a no-op where flock does not exist: run one tenantstream process
// per data directory there.
func lockFile(*os.File) error { return nil }
