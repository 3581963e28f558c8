//go:build !unix

package identity

import "os"

// ownedByMe cannot tell the owner here; the mode check is all there is.
func ownedByMe(os.FileInfo) bool { return true }
