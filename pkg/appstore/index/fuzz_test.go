package index

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse is differential: whenever Parse returns a snapshot that the YAML library
// also accepts, ParseSlow must return the identical snapshot, and a definitive Parse
// error (not ErrUnsupported) must not reject a document ParseSlow accepts. Parse
// accepting what the library rejects is allowed: it does not validate the subtrees it
// skips (nor JSON duplicate keys), which is the tolerance issue 23 asks for.
func FuzzParse(f *testing.F) {
	f.Add([]byte(one("plain")))
	f.Add([]byte(one("\"dq \\t\"")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		fast, err := Parse(data)
		slow, serr := ParseSlow(data)
		switch {
		case err != nil && errors.Is(err, ErrUnsupported):
		case err != nil:
			if serr == nil {
				t.Fatalf("Parse rejected a document ParseSlow accepts: %v\n%q", err, data)
			}
		case serr == nil && !reflect.DeepEqual(fast, slow):
			t.Fatalf("Parse and ParseSlow differ on %q\nfast: %#v\nslow: %#v", data, fast, slow)
		}
	})
}
