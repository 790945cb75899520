// Package agenttoken is the join token of an Agent cluster and the host Secret that holds
// its hash: the single owner of that contract. Join writes the Secret, the tower proxy and
// cluster-apiserver read it, unjoin and the cleanup controller delete it; all of them go
// through this package, so they agree on what a token Secret is.
//
// A join token is 256 random bits, shown once by join and kept on the host only as a
// SHA-256 in the Secret <cluster>-agent-token (key "sha256"), so that reading the host's
// Secrets does not give a tunnel. A token is bound to its cluster by where its hash is
// stored.
package agenttoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

const tokenBytes = 32

// New returns a fresh join token.
func New() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is what the host stores for token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Matches reports whether token is the one whose hash is storedHash. It compares in
// constant time, so the hash cannot be guessed byte by byte.
func Matches(storedHash, token string) bool {
	got := Hash(token)
	return len(storedHash) == len(got) && subtle.ConstantTimeCompare([]byte(storedHash), []byte(got)) == 1
}

// CheckShape refuses what cannot be a token before hashing it (a kubeconfig pasted by
// mistake, an empty file), with a message that says so.
func CheckShape(token string) error {
	// Strict: the decoder would skip CR and LF, and accept other spellings of the last
	// character; only the one spelling join prints is a token.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenBytes || base64.RawURLEncoding.EncodeToString(b) != token {
		return fmt.Errorf("the join token is not a token made by join (43 characters of base64url)")
	}
	return nil
}

// LooksLike reports whether s has a join token's shape, so authenticators can leave
// other bearer tokens alone without hashing them.
func LooksLike(s string) bool { return CheckShape(s) == nil }
