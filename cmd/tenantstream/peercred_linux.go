//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// peerUID is the uid of the process at the other end of a Unix socket
// connection, as the kernel recorded it at connect (SO_PEERCRED).
func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, fmt.Errorf("not a unix socket connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	if cred == nil {
		return -1, errors.New("SO_PEERCRED: no credentials")
	}
	return int(cred.Uid), nil
}

// errPeerUnknown is returned where the system cannot tell a peer's uid.
var errPeerUnknown = errors.New("peer credentials are not available on this system")
