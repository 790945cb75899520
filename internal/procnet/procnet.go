// Package procnet reads which TCP ports a Linux process listens on, from /proc: tests use
// it to show that a component opens no port beyond the ones it documents.
package procnet

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ListeningTCP maps the TCP ports process pid ("self" for this one) listens on to their
// local address: its socket inodes (/proc/<pid>/fd) looked up in its network namespace's
// tables, IPv4 and IPv6.
func ListeningTCP(pid string) (map[int]net.IP, error) {
	fdDir := filepath.Join("/proc", pid, "fd")
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, fmt.Errorf("sockets of process %s: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	addrs := map[int]net.IP{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("/proc", pid, "net", table))
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			ip, port, err := parseAddr(fields[1])
			if err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			addrs[port] = ip
		}
		_ = f.Close()
	}
	return addrs, nil
}

// parseAddr decodes /proc/net/tcp's "0100007F:1F90": the address as 32-bit words in host
// byte order (little-endian on every platform this runs on), the port in hex.
func parseAddr(s string) (net.IP, int, error) {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	raw, err1 := hex.DecodeString(hexIP)
	port, err2 := strconv.ParseInt(hexPort, 16, 32)
	if err1 != nil || err2 != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, fmt.Errorf("address %q", s)
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.IP(raw), int(port), nil
}
