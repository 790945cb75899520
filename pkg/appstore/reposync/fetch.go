// Package reposync keeps each App Store Repo's charts current: it reads the repository's
// index (conditionally, within a size cap), parses it off the request path, and reports
// what it found, or why it could not, in the Repo's status. It also reads a version's
// chart archive for applicationversions/<name>/chart (chart.go), with the same client.
package reposync

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
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

// fetchIndex reads the index at rawURL with c. It asks for it only if changed since last
// (a 304 is notModified), refuses more than maxBytes before and while reading, and hashes
// the body as it reads.
func fetchIndex(ctx context.Context, c *repoClient, rawURL string, last validators, maxBytes int64) (*fetched, error) {
	header := http.Header{"Accept": {"application/yaml, application/json;q=0.9, */*;q=0.1"}}
	if last.etag != "" {
		header.Set("If-None-Match", last.etag)
	}
	if last.lastModified != "" {
		header.Set("If-Modified-Since", last.lastModified)
	}
	resp, err := c.get(ctx, rawURL, header)
	if err != nil {
		if reasonOf(err) == appstore.RepoReasonNotFound {
			return nil, failed(appstore.RepoReasonNotFound, "%v: no index there; the URL should be the repository's (index.yaml is added)", err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return &fetched{notModified: true, validators: last}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, failed(appstore.RepoReasonUnreachable, "GET %s: %s", rawURL, resp.Status)
	}
	body, sum, err := readCapped(resp, rawURL, maxBytes, appstore.RepoReasonIndexTooLarge, "index", "maxIndexSize")
	if err != nil {
		return nil, err
	}
	return &fetched{
		body:       body,
		digest:     "sha256:" + hex.EncodeToString(sum[:]),
		validators: validators{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")},
	}, nil
}
