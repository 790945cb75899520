package appview

import "testing"

// Releases name a version by its Application and exact version string; the lookup finds it
// whatever its computed name became (hashed, lowercased), and nothing else.
func TestFindVersion(t *testing.T) {
	_, _, vers := fixture(t)
	for _, c := range []struct{ app, version, want string }{
		{"main.nginx", "2.0.0", "main.nginx.2.0.0"},
		{"main.redis", "7.0.0+build.1", "main.redis." + h("7.0.0+build.1")},
		{"main.redis", "7.0.0-RC1", "main.redis.7.0.0-rc1"},
		{upperRedis, "1.0.0", upperRedis + ".1.0.0"},
		{"other.nginx", "3.0.0", "other.nginx.3.0.0"},
	} {
		got, ok := vers.FindVersion(c.app, c.version)
		if !ok || got.Name != c.want || got.Version.Version != c.version {
			t.Errorf("FindVersion(%s, %s) = %q %v, want %q", c.app, c.version, got.Name, ok, c.want)
		}
	}
	for _, c := range []struct{ app, version string }{
		{"main.nginx", "3.0.0"},     // another repo's version
		{"main.nginx", "2.0"},       // not the exact string
		{"main.redis", "7.0.0-rc1"}, // the name's spelling, not the version's
		{"main.absent", "1.0.0"},
		{"absent.nginx", "2.0.0"},
	} {
		if got, ok := vers.FindVersion(c.app, c.version); ok {
			t.Errorf("FindVersion(%s, %s) found %q", c.app, c.version, got.Name)
		}
	}
}
