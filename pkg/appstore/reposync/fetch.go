// Package reposync keeps each App Store Repo's charts current: it reads the repository's
// index (conditionally, within a size cap), parses it off the request path, and reports
// what it found, or why it could not, in the Repo's status.
package reposync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"kubesphere.io/multicluster/apis/appstore"
)

// indexURL is where a Helm repository's index is: the Repo URL itself when it names a
// .yaml or .json file, else index.yaml beneath it.
func indexURL(repoURL string) (string, error) {
	u, err := url.Parse(repoURL)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(u.Path, ".yaml") && !strings.HasSuffix(u.Path, ".json") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/index.yaml"
	}
	return u.String(), nil
}

// validators are what a server said about the index last read, for a conditional GET.
type validators struct {
	etag, lastModified string
}

// fetched is one read of an index.
type fetched struct {
	body        []byte
	digest      string // "sha256:<hex>" of body
	validators  validators
	notModified bool
}

// credentials are sent to the Repo URL's own host only.
type credentials struct {
	username, password, token string
}

// fetchError is a failed read with the condition reason a user acts on.
type fetchError struct {
	reason string
	err    error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func failed(reason string, format string, args ...any) error {
	return &fetchError{reason: reason, err: fmt.Errorf(format, args...)}
}

// reasonOf is the condition reason of a failed read.
func reasonOf(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return appstore.RepoReasonUnreachable
}

// fetchIndex reads the index at rawURL with client. It asks for it only if changed since
// last (a 304 is notModified), refuses more than maxBytes before and while reading, and
// hashes the body as it reads.
func fetchIndex(ctx context.Context, client *http.Client, rawURL string, last validators, creds *credentials, maxBytes int64) (*fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, failed(appstore.RepoReasonInvalidIndex, "index URL %s: %v", rawURL, err)
	}
	req.Header.Set("Accept", "application/yaml, application/json;q=0.9, */*;q=0.1")
	if last.etag != "" {
		req.Header.Set("If-None-Match", last.etag)
	}
	if last.lastModified != "" {
		req.Header.Set("If-Modified-Since", last.lastModified)
	}
	if creds != nil {
		if creds.token != "" {
			req.Header.Set("Authorization", "Bearer "+creds.token)
		} else {
			req.SetBasicAuth(creds.username, creds.password)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, classify(rawURL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return &fetched{notModified: true, validators: last}, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, failed(appstore.RepoReasonUnauthorized, "GET %s: %s: check the Secret named by credentialsSecretRef", rawURL, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return nil, failed(appstore.RepoReasonNotFound, "GET %s: %s: no index there; the URL should be the repository's (index.yaml is added)", rawURL, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, failed(appstore.RepoReasonUnreachable, "GET %s: %s", rawURL, resp.Status)
	}
	if resp.ContentLength > maxBytes {
		return nil, failed(appstore.RepoReasonIndexTooLarge, "GET %s: the index is %d bytes, over maxIndexSize (%d)", rawURL, resp.ContentLength, maxBytes)
	}
	size := int64(64 << 10)
	if resp.ContentLength > 0 {
		size = resp.ContentLength
	}
	body := bytes.NewBuffer(make([]byte, 0, size+1))
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(body, h), io.LimitReader(resp.Body, maxBytes+1)); err != nil {
		return nil, failed(appstore.RepoReasonUnreachable, "reading %s: %v", rawURL, err)
	}
	if int64(body.Len()) > maxBytes {
		return nil, failed(appstore.RepoReasonIndexTooLarge, "GET %s: the index is over maxIndexSize (%d bytes)", rawURL, maxBytes)
	}
	return &fetched{
		body:       body.Bytes(),
		digest:     "sha256:" + hex.EncodeToString(h.Sum(nil)),
		validators: validators{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")},
	}, nil
}

// classify names why a request got no answer: TLS (the CA), or the network.
func classify(rawURL string, err error) error {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return failed(appstore.RepoReasonTLSError, "GET %s: %v: set caBundle to the CA of the repository's certificate", rawURL, err)
	}
	if strings.Contains(err.Error(), "tls: ") {
		return failed(appstore.RepoReasonTLSError, "GET %s: %v", rawURL, err)
	}
	return failed(appstore.RepoReasonUnreachable, "GET %s: %v", rawURL, err)
}
