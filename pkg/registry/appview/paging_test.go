package appview

import (
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pages lists with limit until no continue is left, and returns the names and each
// page's remainingItemCount (-1 when unset).
func pages(t *testing.T, s *REST, o *metainternalversion.ListOptions) (all []string, sizes []int, remaining []int64) {
	t.Helper()
	for i := 0; i < 20; i++ {
		obj, err := s.List(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		n := names(t, obj)
		all, sizes = append(all, n...), append(sizes, len(n))
		m, _ := meta.ListAccessor(obj)
		r := int64(-1)
		if m.GetRemainingItemCount() != nil {
			r = *m.GetRemainingItemCount()
		}
		remaining = append(remaining, r)
		if m.GetContinue() == "" {
			return
		}
		next := *o
		next.Continue = m.GetContinue()
		o = &next
	}
	t.Fatal("paging does not end")
	return
}

func TestPaging(t *testing.T) {
	_, apps, vers := fixture(t)
	for _, c := range []struct {
		name      string
		store     *REST
		o         *metainternalversion.ListOptions
		want      []string
		sizes     []int
		remaining []int64
	}{
		{"versions by 2", vers, &metainternalversion.ListOptions{Limit: 2}, wantVersions, []int{2, 2, 2, 1}, []int64{5, 3, 1, -1}},
		{"a page ends with a repo", apps, &metainternalversion.ListOptions{Limit: 4}, wantApps, []int{4, 1}, []int64{1, -1}},
		{"the limit is the size", apps, &metainternalversion.ListOptions{Limit: 5}, wantApps, []int{5}, []int64{-1}},
		{"no limit", vers, &metainternalversion.ListOptions{}, wantVersions, []int{7}, []int64{-1}},
		{"with a selector: no count", vers, func() *metainternalversion.ListOptions {
			o := opts("", "spec.chart=nginx")
			o.Limit = 2
			return o
		}(), []string{"main.nginx.1.0.0", "main.nginx.2.0.0", "other.nginx.3.0.0"}, []int{2, 1}, []int64{-1, -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, sizes, remaining := pages(t, c.store, c.o)
			if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(sizes, c.sizes) || !reflect.DeepEqual(remaining, c.remaining) {
				t.Fatalf("got %q in pages %v remaining %v, want %q in %v remaining %v", got, sizes, remaining, c.want, c.sizes, c.remaining)
			}
		})
	}
}

func TestContinueExpired(t *testing.T) {
	c, _, vers := fixture(t)
	obj, err := vers.List(ctx, &metainternalversion.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	first := names(t, obj)
	m, _ := meta.ListAccessor(obj)
	token := m.GetContinue()
	c.Put(repo(t, "other", otherUID, mainIndex)) // rv 1003: the token's list is gone
	_, err = vers.List(ctx, &metainternalversion.ListOptions{Limit: 3, Continue: token})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("continue at an older rv: %v, want 410 Expired", err)
	}
	status := err.(*apierrors.StatusError).ErrStatus
	if status.Code != 410 || status.Reason != metav1.StatusReasonExpired || status.ListMeta.Continue == "" {
		t.Fatalf("status %+v", status)
	}
	// The token in the error goes on, inconsistently, at the latest rv.
	obj, err = vers.List(ctx, &metainternalversion.ListOptions{Continue: status.ListMeta.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if rest := names(t, obj); len(rest) == 0 || rest[0] <= first[len(first)-1] {
		t.Fatalf("continued with %q after %q", rest, first)
	}
	if m, _ := meta.ListAccessor(obj); m.GetResourceVersion() != "1003" {
		t.Fatalf("continued at %s", m.GetResourceVersion())
	}
	for _, o := range []*metainternalversion.ListOptions{
		{Continue: "not a token"},
		{Continue: token, ResourceVersion: "1003"},
	} {
		if _, err := vers.List(ctx, o); !apierrors.IsBadRequest(err) {
			t.Errorf("%+v: %v, want BadRequest", o, err)
		}
	}
}

func TestListResourceVersion(t *testing.T) {
	_, apps, _ := fixture(t) // floor 1000, current 1002
	for _, c := range []struct {
		rv    string
		match metav1.ResourceVersionMatch
		want  func(error) bool
	}{
		{"", "", nil},
		{"0", "", nil},
		{"1002", "", nil},
		{"1001", metav1.ResourceVersionMatchNotOlderThan, nil},
		{"1000", "", nil},
		{"1002", metav1.ResourceVersionMatchExact, nil},
		{"1001", metav1.ResourceVersionMatchExact, apierrors.IsResourceExpired},
		{"999", "", apierrors.IsResourceExpired},        // older than this replica's
		{"7000000001", "", apierrors.IsResourceExpired}, // another replica's
		{"1003", metav1.ResourceVersionMatchNotOlderThan, apierrors.IsResourceExpired},
		{"x", "", apierrors.IsBadRequest},
	} {
		obj, err := apps.List(ctx, &metainternalversion.ListOptions{ResourceVersion: c.rv, ResourceVersionMatch: c.match})
		switch {
		case c.want == nil && err != nil:
			t.Errorf("rv %q %s: %v", c.rv, c.match, err)
		case c.want == nil:
			if m, _ := meta.ListAccessor(obj); m.GetResourceVersion() != "1002" {
				t.Errorf("rv %q %s: listed at %s", c.rv, c.match, m.GetResourceVersion())
			}
		case !c.want(err):
			t.Errorf("rv %q %s: %v", c.rv, c.match, err)
		}
	}
}
