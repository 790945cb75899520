// Package stdlog gives libraries that log through the standard library (net/http's
// reverse proxy, yamux) a logger that writes to klog at verbosity 2: their lines are
// about one client or stream and would flood the default log.
package stdlog

import (
	"log"
	"strings"

	"k8s.io/klog/v2"
)

// V2 logs each line to klog at verbosity 2.
var V2 = log.New(writer{}, "", 0)

type writer struct{}

func (writer) Write(p []byte) (int, error) {
	klog.V(2).Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
