//go:build !mips && !mipsle && !mips64 && !mips64le

package secureserving

// soReusePort is SO_REUSEPORT, which package syscall does not name on Linux (the value of
// golang.org/x/sys/unix, not a direct dependency of this module).
const soReusePort = 0xf
