//go:build !linux

package main

import (
	"errors"
	"net"
)

// errPeerUnknown is returned where the system cannot tell a peer's uid; the
// operator socket's mode (0600) and its private directory are the check there.
var errPeerUnknown = errors.New("peer credentials are not available on this system")

func peerUID(net.Conn) (int, error) { return -1, errPeerUnknown }
