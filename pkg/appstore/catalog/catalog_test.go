package catalog

import "testing"

func TestCatalog(t *testing.T) {
	c := New(100)
	c.Put(&Repo{Name: "b"})
	c.Put(&Repo{Name: "a"})
	repos, rv := c.List()
	if len(repos) != 2 || repos[0].Name != "a" || rv != 102 {
		t.Fatalf("List = %v at %d, want a, b at 102", repos, rv)
	}
	listed, at, changes, stop := c.Watch(1)
	if len(listed) != 2 || at != 102 {
		t.Fatalf("Watch listed %d at %d", len(listed), at)
	}
	c.Delete("a")
	ch := <-changes
	if ch.Name != "a" || ch.New != nil || ch.Old == nil || ch.ResourceVersion != 103 {
		t.Fatalf("change %+v", ch)
	}
	c.Delete("a") // already gone: no change
	if _, rv := c.List(); rv != 103 {
		t.Fatalf("deleting what is gone moved the resourceVersion to %d", rv)
	}
	// A watcher that does not keep up is closed.
	c.Put(&Repo{Name: "c"})
	c.Put(&Repo{Name: "d"})
	<-changes
	if _, ok := <-changes; ok {
		t.Fatal("an overflowing watcher was not closed")
	}
	stop() // after the close: no panic
	if r, ok := c.Get("d"); !ok || r.Name != "d" {
		t.Fatal("Get d")
	}
}
