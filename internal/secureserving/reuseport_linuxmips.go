//go:build linux && (mips || mipsle || mips64 || mips64le)

package secureserving

// soReusePort is SO_REUSEPORT on MIPS (see reuseport_linux.go).
const soReusePort = 0x200
