package tunnel

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Join tokens: 256 random bits, shown once by join, kept on the host only as a SHA-256 in
// the Secret <cluster>-agent-token (key "sha256"), so that reading the host's Secrets does
// not give a tunnel. A token is bound to its cluster by where its hash is stored.
const (
	tokenBytes = 32
	// TokenSecretSuffix names a cluster's token Secret: <cluster>-agent-token.
	TokenSecretSuffix = "-agent-token"
	// TokenHashKey is the key of the token's hash in that Secret.
	TokenHashKey = "sha256"
)

// TokenSecretName is the name of cluster's token Secret.
func TokenSecretName(cluster string) string { return cluster + TokenSecretSuffix }

// ClusterOfTokenSecret is the cluster a token Secret belongs to, or "" for another Secret.
func ClusterOfTokenSecret(name string) string {
	cluster, ok := strings.CutSuffix(name, TokenSecretSuffix)
	if !ok || len(validation.IsDNS1123Label(cluster)) > 0 {
		return "" // no Cluster can have that name
	}
	return cluster
}

// NewToken returns a fresh join token.
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what the host stores for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenMatches compares in constant time, so the hash cannot be guessed byte by byte.
func tokenMatches(storedHash, token string) bool {
	got := HashToken(token)
	return len(storedHash) == len(got) && subtle.ConstantTimeCompare([]byte(storedHash), []byte(got)) == 1
}

// checkTokenShape refuses what cannot be a token before hashing it (a kubeconfig pasted by
// mistake, an empty file), with a message that says so.
func checkTokenShape(token string) error {
	// Strict: the decoder would skip CR and LF, and accept other spellings of the last
	// character; only the one spelling join prints is a token.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenBytes || base64.RawURLEncoding.EncodeToString(b) != token {
		return fmt.Errorf("the join token is not a token made by join (43 characters of base64url)")
	}
	return nil
}

// TokenSecretLabel marks token Secrets, so the tower proxy watches those and no others.
const TokenSecretLabel = "clusters.kubesphere.io/agent-token"

// LooksLikeToken reports whether s has a join token's shape, so authenticators can leave
// other bearer tokens alone without hashing them.
func LooksLikeToken(s string) bool { return checkTokenShape(s) == nil }
