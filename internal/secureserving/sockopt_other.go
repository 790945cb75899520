//go:build !linux && !darwin

package secureserving

import (
	"errors"
	"syscall"
)

// socketSharing is not supported here: listening fails rather than share silently.
func socketSharing(_, _ bool) func(network, address string, conn syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.New("--permit-port-sharing and --permit-address-sharing are not supported on this platform")
	}
}
