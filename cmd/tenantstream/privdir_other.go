//go:build !unix

package main

import (
	"errors"
	"os"
)

// checkPrivateDir cannot check ownership here, so the operator socket is not
// served: stop the server to run billing close or projections rebuild.
func checkPrivateDir(string, int) error {
	return errors.New("operator socket: file ownership cannot be checked on this system")
}

func ownedBy(os.FileInfo, int) bool { return false }
