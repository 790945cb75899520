package reposync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// credentials are a Repo's, from the Secret its credentialsSecretRef names.
type credentials struct {
	username, password, token string
}

// repoClient reads from one Repo's source, for the index and the charts alike: it trusts
// the Repo's CA bundle (or the system's) and sends the Repo's credentials to the host of
// the Repo URL only, so an index that lists charts elsewhere never learns them.
type repoClient struct {
	http  *http.Client
	creds *credentials
	host  string // the Repo URL's host[:port]
}

// repoClient builds the client of repo; timeout bounds each request whole.
func (s *Syncer) repoClient(repo *v1alpha1.Repo, timeout time.Duration) (*repoClient, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	if len(repo.Spec.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(repo.Spec.CABundle) {
			return nil, failed(appstore.RepoReasonTLSError, "spec.caBundle holds no PEM certificate")
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	c := &repoClient{}
	if ref := repo.Spec.CredentialsSecretRef; ref != nil {
		secret, err := s.secrets.Secrets(s.secretNS).Get(ref.Name)
		if err != nil {
			return nil, failed(appstore.RepoReasonUnauthorized, "credentials Secret %s/%s: %v", s.secretNS, ref.Name, err)
		}
		c.creds = &credentials{username: string(secret.Data["username"]), password: string(secret.Data["password"]), token: string(secret.Data["token"])}
		if c.creds.token == "" && c.creds.username == "" {
			return nil, failed(appstore.RepoReasonUnauthorized, "credentials Secret %s/%s has neither username and password nor token", s.secretNS, ref.Name)
		}
	}
	if u, err := url.Parse(repo.Spec.URL); err == nil {
		c.host = u.Host
	}
	c.http = &http.Client{Transport: transport, Timeout: timeout,
		// A request that carried the credentials may not be redirected to another host
		// (Go would drop the header there, but the redirect itself is the surprise).
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if c.creds != nil && via[0].URL.Host == c.host && req.URL.Host != c.host {
				return fmt.Errorf("redirected to %s: credentials are sent to %s only", req.URL.Host, c.host)
			}
			if len(via) >= 5 {
				return fmt.Errorf("stopped after 5 redirects")
			}
			return nil
		}}
	return c, nil
}

// get sends a GET of rawURL with header, and the credentials when rawURL is on the Repo's
// host. It returns the response of a 2xx or 304; any other answer, or none, is a
// fetchError with the reason a user acts on, and the body is closed.
func (c *repoClient) get(ctx context.Context, rawURL string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, failed(appstore.RepoReasonInvalidIndex, "URL %s: %v", rawURL, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.creds != nil && req.URL.Host == c.host {
		if c.creds.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.creds.token)
		} else {
			req.SetBasicAuth(c.creds.username, c.creds.password)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, classify("GET "+rawURL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified || resp.StatusCode/100 == 2:
		return resp, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		err = failed(appstore.RepoReasonUnauthorized, "GET %s: %s: check the Secret named by credentialsSecretRef", rawURL, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		err = failed(appstore.RepoReasonNotFound, "GET %s: %s", rawURL, resp.Status)
	default:
		err = failed(appstore.RepoReasonUnreachable, "GET %s: %s", rawURL, resp.Status)
	}
	resp.Body.Close()
	return nil, err
}

// readCapped reads resp's body whole, hashing it as it reads, and refuses more than max
// bytes, before reading when the length is declared and while reading when it is not;
// tooLarge is the reason of a refusal; what and limit name the thing read and the limit
// in its message.
func readCapped(resp *http.Response, rawURL string, max int64, tooLarge, what, limit string) ([]byte, [32]byte, error) {
	if resp.ContentLength > max {
		return nil, [32]byte{}, failed(tooLarge, "GET %s: the %s is %d bytes, over %s (%d)", rawURL, what, resp.ContentLength, limit, max)
	}
	size := int64(64 << 10)
	if resp.ContentLength > 0 {
		size = resp.ContentLength
	}
	body := bytes.NewBuffer(make([]byte, 0, size+1))
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(body, h), io.LimitReader(resp.Body, max+1)); err != nil {
		return nil, [32]byte{}, failed(appstore.RepoReasonUnreachable, "reading %s: %v", rawURL, err)
	}
	if int64(body.Len()) > max {
		return nil, [32]byte{}, failed(tooLarge, "GET %s: the %s is over %s (%d bytes)", rawURL, what, limit, max)
	}
	return body.Bytes(), [32]byte(h.Sum(nil)), nil
}

// classify names why a request got no answer: TLS (the CA), or the network. what is the
// request, for the message.
func classify(what string, err error) error {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return failed(appstore.RepoReasonTLSError, "%s: %v: set caBundle to the CA of the repository's certificate", what, err)
	}
	if strings.Contains(err.Error(), "tls: ") {
		return failed(appstore.RepoReasonTLSError, "%s: %v", what, err)
	}
	return failed(appstore.RepoReasonUnreachable, "%s: %v", what, err)
}
