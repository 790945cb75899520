package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository serves its folder to anyone and the private copy only with the
// credentials: a wrong password, a wrong user or none gets 401 with a Basic challenge.
func TestRepoHandler(t *testing.T) {
	public, private := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(public, "index.yaml"), []byte("public"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(private, "index.yaml"), []byte("private"), 0o644))
	h := repoHandler(public, private, "appstore", "s3cret")
	get := func(path, user, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get("/index.yaml", "", "")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "public", rec.Body.String())
	for _, c := range [][2]string{{"", ""}, {"appstore", "wrong"}, {"other", "s3cret"}} {
		rec := get("/private/index.yaml", c[0], c[1])
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%v", c)
		assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Basic ")
	}
	rec = get("/private/index.yaml", "appstore", "s3cret")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "private", rec.Body.String())
	// Without a private folder the prefix is just a missing file of the public one.
	assert.Equal(t, http.StatusNotFound, func() int {
		rec := httptest.NewRecorder()
		repoHandler(public, "", "", "").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/private/index.yaml", nil))
		return rec.Code
	}())
}
