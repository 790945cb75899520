//go:build linux || darwin

package secureserving

import (
	"syscall"

	"k8s.io/klog/v2"
)

// socketSharing sets SO_REUSEPORT and SO_REUSEADDR, as --permit-port-sharing and
// --permit-address-sharing ask.
func socketSharing(port, address bool) func(network, address string, conn syscall.RawConn) error {
	var opts []int
	if port {
		opts = append(opts, soReusePort)
	}
	if address {
		opts = append(opts, syscall.SO_REUSEADDR)
	}
	return func(_, _ string, conn syscall.RawConn) error {
		return conn.Control(func(fd uintptr) {
			for _, opt := range opts {
				if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1); err != nil {
					klog.ErrorS(err, "Setting a socket option", "option", opt)
				}
			}
		})
	}
}
