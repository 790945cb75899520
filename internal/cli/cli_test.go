package cli

import (
	"bytes"
	"testing"

	"github.com/spf13/pflag"
)

func TestAddDeprecatedAlias(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	servers := fs.StringSlice("new-name", nil, "the servers")
	AddDeprecatedAlias(fs, "old-name", "new-name")
	if err := fs.Parse([]string{"--old-name=a", "--new-name=b"}); err != nil {
		t.Fatal(err)
	}
	// One value behind both names: a slice flag appends across them.
	if got := *servers; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("values = %q, want [a b]", got)
	}
	if !bytes.Contains(out.Bytes(), []byte("Flag --old-name has been deprecated, use --new-name instead")) {
		t.Fatalf("no deprecation notice in %q", out.String())
	}
	if f := fs.Lookup("old-name"); !f.Hidden {
		t.Fatal("the old name is shown in the help")
	}
}
