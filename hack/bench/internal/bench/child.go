package bench

import (
	"bufio"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
)

// Serve is the child's side: it prints srv's URL and its CA (base64 of the PEM) on one
// line each for StartChild, then returns when stdin closes, that is when the parent ends
// or lets go of it.
func Serve(srv *httptest.Server) {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fmt.Printf("%s\n%s\n", srv.URL, base64.StdEncoding.EncodeToString(ca))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// StartChild starts cmd, a child that calls Serve, and returns its URL and CA (PEM) and
// its stdin: the child serves until that is closed. what names the child in the error
// when it does not start.
func StartChild(cmd *exec.Cmd, what string) (url string, caPEM []byte, stdin io.WriteCloser, err error) {
	if stdin, err = cmd.StdinPipe(); err != nil {
		return "", nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	if len(got) < 2 {
		return "", nil, stdin, fmt.Errorf("%s did not start", what)
	}
	if caPEM, err = base64.StdEncoding.DecodeString(got[1]); err != nil {
		return "", nil, stdin, err
	}
	return got[0], caPEM, stdin, nil
}
