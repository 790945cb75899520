package agenttoken

// The fuzz test of join tokens and token Secret names, as read from the network and from
// the host. `go test` runs the seeds (f.Add below and testdata/fuzz/FuzzTokenParsing/);
// `make fuzz` fuzzes it.

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Two join tokens of the right shape, fixed so that seeds can carry them: 32 bytes of 0xa1
// and of 0xb2, in unpadded base64url (pkg/tunnel's fuzz tests use the same two).
const (
	fuzzTokenMember1 = "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaE"
	fuzzTokenMember2 = "srKysrKysrKysrKysrKysrKysrKysrKysrKysrKysrI"
)

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzTokenParsing checks the token functions on arbitrary strings: the shape check never
// panics and accepts exactly 43 base64url characters (the decoder also skips CR and LF);
// a token matches the stored hash of exactly the string that was hashed (not another
// spelling of the same 32 bytes, not a hash in capitals); and a token Secret's name gives
// back the cluster it was made from, and only names that are DNS-1123 labels ("a.b-agent-token"
// and "a--agent-token" belong to no cluster).
func FuzzTokenParsing(f *testing.F) {
	for _, s := range []struct{ a, b string }{
		{fuzzTokenMember1, fuzzTokenMember1}, {fuzzTokenMember1, fuzzTokenMember2},
		{fuzzTokenMember1, "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaF"}, // same bytes, other last character
		{fuzzTokenMember1 + "\n", fuzzTokenMember1}, {"\r\n" + fuzzTokenMember1, fuzzTokenMember1},
		{fuzzTokenMember1 + "=", fuzzTokenMember1}, {" " + fuzzTokenMember1, fuzzTokenMember1},
		{"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa", ""}, {fuzzTokenMember1 + "A", ""},
		{"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa+", ""}, {"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa/", ""},
		{"", ""}, {"Bearer " + fuzzTokenMember1, fuzzTokenMember1}, {"apiVersion: v1\nkind: Config\n", ""},
		{"member1-agent-token", "member1"}, {"-agent-token", ""}, {"a--agent-token", "a-"}, {"a.b-agent-token", "a.b"},
		{"x-agent-token-agent-token", "x-agent-token"}, {"member1-agent-tokens", "member1"}, {"MEMBER1-agent-token", "MEMBER1"},
		{Hash(fuzzTokenMember1), strings.ToUpper(Hash(fuzzTokenMember1))},
		{strings.Repeat("A", 43), strings.Repeat("A", 4096)}, {"ｍember1-agent-token", "\x00"},
	} {
		f.Add(s.a, s.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		shaped := LooksLike(a)
		if shaped != (CheckShape(a) == nil) {
			t.Fatalf("LooksLike(%q) = %v disagrees with CheckShape", a, shaped)
		}
		bare := strings.NewReplacer("\r", "", "\n", "").Replace(a)
		if shaped && (len(bare) != 43 || strings.Trim(bare, base64URLAlphabet) != "") {
			t.Fatalf("LooksLike(%q): accepted what is not 43 characters of base64url", a)
		}
		if shaped {
			raw, _ := base64.RawURLEncoding.DecodeString(a)
			if canonical := base64.RawURLEncoding.EncodeToString(raw); canonical != a && Matches(Hash(a), canonical) {
				t.Fatalf("%q matched the hash of %q, another spelling of the same bytes", canonical, a)
			}
		}
		// Any 32 bytes make a token of the right shape, as New's do.
		sum := sha256.Sum256([]byte(a))
		if made := base64.RawURLEncoding.EncodeToString(sum[:]); !LooksLike(made) {
			t.Fatalf("LooksLike(%q) = false for 32 bytes in base64url", made)
		}

		// A stored hash is matched by the token that was hashed, and by no other string.
		h := Hash(a)
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			t.Fatalf("Hash(%q) = %q, not 64 lowercase hex digits", a, h)
		}
		if !Matches(h, a) {
			t.Fatalf("%q does not match its own hash", a)
		}
		if Matches(h, b) != (a == b) {
			t.Fatalf("Matches(Hash(%q), %q) = %v", a, b, !(a == b))
		}
		if Matches(b, a) != (b == h) {
			t.Fatalf("Matches(%q, %q) = %v: only the exact stored hash %q matches", b, a, b != h, h)
		}

		// Token Secrets: <cluster>-agent-token, and back.
		for _, name := range []string{a, b} {
			cluster := ClusterOf(name)
			if cluster != "" && SecretName(cluster) != name {
				t.Fatalf("ClusterOf(%q) = %q, whose token Secret is %q", name, cluster, SecretName(cluster))
			}
			// Only cluster names come back: a Secret named for a name no Cluster can have
			// (not a DNS-1123 label) belongs to no cluster.
			if cluster != "" && len(validation.IsDNS1123Label(cluster)) > 0 {
				t.Fatalf("ClusterOf(%q) = %q, which is not a cluster name", name, cluster)
			}
			if len(validation.IsDNS1123Label(name)) == 0 {
				if got := ClusterOf(SecretName(name)); got != name {
					t.Fatalf("ClusterOf(SecretName(%q)) = %q", name, got)
				}
			}
		}
	})
}
