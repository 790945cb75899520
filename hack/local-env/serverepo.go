package main

import (
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// serveRepo is `local-env serve-repo`: a Helm chart repository is static files (index.yaml
// and the archives), so this is a file server over HTTPS. The environment runs it as the
// App Store's HTTPS repository; --private-dir adds a copy under /private/ that answers 401
// without the username:password of --auth-file.
func serveRepo(args []string) {
	fs := flag.NewFlagSet("local-env serve-repo", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:19443", "Address to listen on; only a loopback address is accepted.")
	dir := fs.String("dir", "", "Directory served at /.")
	privateDir := fs.String("private-dir", "", "Directory served at /private/ behind basic auth (needs --auth-file); empty serves nothing there.")
	authFile := fs.String("auth-file", "", "File holding the username:password that /private/ requires.")
	cert := fs.String("cert", "", "Serving certificate (PEM).")
	key := fs.String("key", "", "Key of the serving certificate (PEM).")
	_ = fs.Parse(args)
	if *dir == "" || *cert == "" || *key == "" {
		fail(errors.New("serve-repo: --dir, --cert and --key are required"))
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fail(fmt.Errorf("serve-repo: --addr %q is not a loopback address", *addr))
	}
	var user, pass string
	if *privateDir != "" {
		if *authFile == "" {
			fail(errors.New("serve-repo: --private-dir needs --auth-file"))
		}
		data, err := os.ReadFile(*authFile)
		if err != nil {
			fail(err)
		}
		var ok bool
		user, pass, ok = strings.Cut(strings.TrimSpace(string(data)), ":")
		if !ok || user == "" || pass == "" {
			fail(fmt.Errorf("serve-repo: %s: want username:password", *authFile))
		}
	}
	mux := repoHandler(*dir, *privateDir, user, pass)
	srv := &http.Server{Addr: *addr, Handler: logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving %s at https://%s/ (private: %q)", *dir, *addr, *privateDir)
	fail(srv.ListenAndServeTLS(*cert, *key))
}

// repoHandler serves dir at / and, when privateDir is set, privateDir at /private/ to
// user:pass only.
func repoHandler(dir, privateDir, user, pass string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	if privateDir != "" {
		mux.Handle("/private/", basicAuth(user, pass, http.StripPrefix("/private", http.FileServer(http.Dir(privateDir)))))
	}
	return mux
}

func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="kubesphere-local-charts"`)
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests writes one line per request to the log (the process's log file).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.Printf("%s %s %d %s", r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Microsecond))
	})
}
