package app

import "syscall"

const soReusePort = syscall.SO_REUSEPORT
