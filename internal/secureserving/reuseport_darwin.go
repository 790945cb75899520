package secureserving

import "syscall"

const soReusePort = syscall.SO_REUSEPORT
