package reposync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Bounds of an OCI Repo's sync: a registry answers what it likes, and every replica asks.
const (
	// maxOCITags are the newest versions of a chart that are listed; older ones are
	// counted in skippedEntries.
	maxOCITags = 2000
	// maxTagPages bounds the pages of one tag listing (a registry chooses the page size).
	maxTagPages = 100
	// ociSyncTimeout bounds one sync, manifests of new tags included; each request has
	// fetchTimeout.
	ociSyncTimeout = 10 * time.Minute
)

// ociState is what this replica read of one OCI Repo, so that a re-sync reads manifests
// of new tags only. Replaced whole after each sync, never changed, so that PullOCIChart
// may read it while a sync runs.
type ociState struct {
	generation int64
	// tags: the manifest each listed tag pointed at when it was first read; "" when it was
	// no chart of that name and version (skipped, and not read again).
	tags map[chartTag]digest.Digest
	// versions: what each manifest said, by digest.
	versions map[digest.Digest]*ociVersion
}

type chartTag struct{ chart, tag string }

// ociVersion is one chart version as its manifest and config blob describe it.
type ociVersion struct {
	version index.Version // without URLs: the reference is the tag's
	layer   ocispec.Descriptor
	meta    chartMeta
}

// chartMeta is the chart-level metadata of a version; a chart shows its newest's.
type chartMeta struct {
	icon, home        string
	keywords, sources []string
	maintainers       []index.Maintainer
}

// ociLocation splits spec.url (oci://host[:port][/path]) into the registry host and the
// repository path the chart names are appended to.
func ociLocation(rawURL string) (host, path string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "oci" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("want oci://<host>[/<path>]")
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// ociClient is the registry client of a Repo: its CA bundle and credentials (the same
// Secret keys as an Index repo's), sent to the Repo's host only.
func (s *Syncer) ociClient(repo *v1alpha1.Repo) (*auth.Client, string, string, error) {
	host, path, err := ociLocation(repo.Spec.URL)
	if err != nil {
		return nil, "", "", failed(appstore.RepoReasonInvalidIndex, "spec.url %q: %v", repo.Spec.URL, err)
	}
	rc, err := s.repoClient(repo, fetchTimeout)
	if err != nil {
		return nil, "", "", err
	}
	client, creds := &http.Client{Transport: rc.http.Transport, Timeout: rc.http.Timeout}, rc.creds
	// Registries commonly answer blob GETs with a redirect to object storage; Go's client
	// does not forward the Authorization header to another host, and oras does not answer
	// another origin's challenge with the credentials.
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("stopped after 5 redirects")
		}
		return nil
	}
	c := &auth.Client{Client: client, Cache: auth.NewCache(), Header: http.Header{"User-Agent": {"kubesphere-appstore"}}}
	if creds != nil {
		cred := auth.Credential{Username: creds.username, Password: creds.password}
		if creds.token != "" {
			cred = auth.Credential{AccessToken: creds.token}
		}
		c.Credential = auth.StaticCredential(host, cred)
	}
	return c, host, path, nil
}

// ociRepository is the registry repository of one chart.
func ociRepository(c *auth.Client, host, path, chart string) (*remote.Repository, error) {
	name := chart
	if path != "" {
		name = path + "/" + chart
	}
	ref := registry.Reference{Registry: host, Repository: name}
	if err := ref.ValidateRepository(); err != nil {
		return nil, failed(appstore.RepoReasonInvalidIndex, "oci://%s/%s: %v", host, name, err)
	}
	return &remote.Repository{Client: c, Reference: ref, TagListMaxPages: maxTagPages,
		ManifestMediaTypes: []string{ocispec.MediaTypeImageManifest}}, nil
}

// ociTag is one listed tag that reads as a chart version.
type ociTag struct{ tag, version string }

// listTags lists a chart's tags and keeps the chart versions among them: strict semver
// once "_" is read as "+" (Helm writes "+" as "_", which tags cannot hold). Other tags
// (latest, signatures, ...) are not versions and are ignored; beyond maxOCITags the
// oldest are dropped and counted.
func listTags(ctx context.Context, r *remote.Repository) (tags []ociTag, dropped int, err error) {
	err = r.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if v := strings.ReplaceAll(t, "_", "+"); index.IsStrictSemver(v) {
				tags = append(tags, ociTag{tag: t, version: v})
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, classifyOCI("list the tags of oci://"+r.Reference.String(), err)
	}
	// Tags cannot hold "+", so no two tags are one version.
	slices.SortFunc(tags, func(a, b ociTag) int { return index.CompareVersions(b.version, a.version) })
	if len(tags) > maxOCITags {
		dropped, tags = len(tags)-maxOCITags, tags[:maxOCITags]
	}
	return tags, dropped, nil
}

// readOCI lists the tags of every chart the Repo names and reads the manifest and
// config of each tag it has not read before. The listing (chart, tag, manifest) has a
// digest: unchanged, the catalog keeps its snapshot.
func (s *Syncer) readOCI(ctx context.Context, repo *v1alpha1.Repo, last lastRead) (_ *readResult, err error) {
	client, host, path, err := s.ociClient(repo)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ociSyncTimeout)
	defer cancel()
	prevState := s.ociStateOf(repo.Name)
	if prevState == nil || prevState.generation != repo.Generation {
		prevState = &ociState{} // a new URL or chart list: read it whole
	}
	state := &ociState{generation: repo.Generation, tags: map[chartTag]digest.Digest{}, versions: map[digest.Digest]*ociVersion{}}
	defer func() {
		if err != nil {
			// What was read before the failure is kept for the retry, with the rest.
			s.setOCIState(repo.Name, merge(prevState, state))
		}
	}()
	names := slices.Sorted(slices.Values(repo.Spec.Charts))
	charts := make([]index.Chart, 0, len(names))
	skipped := 0
	listing := sha256.New()
	for _, name := range names {
		r, err := ociRepository(client, host, path, name)
		if err != nil {
			return nil, err
		}
		tags, dropped, err := listTags(ctx, r)
		if err != nil {
			return nil, err
		}
		skipped += dropped
		chart := index.Chart{Name: name}
		var newest *ociVersion
		for _, t := range tags {
			key := chartTag{name, t.tag}
			d, known := prevState.tags[key]
			v := prevState.versions[d]
			if !known || (d != "" && v == nil) {
				d, v, err = readVersion(ctx, r, name, t)
				if errors.Is(err, errTagGone) {
					continue // not a version now, and maybe again later
				} else if err != nil {
					return nil, err
				}
			}
			state.tags[key] = d
			fmt.Fprintf(listing, "%s\t%s\t%s\n", name, t.tag, d)
			if v == nil {
				skipped++
				continue
			}
			state.versions[d] = v
			ver := v.version
			ver.URLs = []string{"oci://" + r.Reference.String() + ":" + t.tag}
			chart.Versions = append(chart.Versions, ver)
			if newest == nil { // tags are newest first
				newest = v
			}
		}
		if newest != nil {
			m := newest.meta
			chart.Icon, chart.Home, chart.Keywords, chart.Sources, chart.Maintainers = m.icon, m.home, m.keywords, m.sources, m.maintainers
		}
		charts = append(charts, chart)
	}
	sum := "sha256:" + hex.EncodeToString(listing.Sum(nil))
	s.setOCIState(repo.Name, state)

	prev, havePrev := s.catalog.Get(repo.Name)
	if havePrev && sum == prev.Digest && last.generation == repo.Generation {
		s.remember(repo, validators{}, last.changed)
		c, v := prev.Index.Counts()
		return &readResult{charts: c, versions: v, skipped: prev.Index.Skipped, digest: sum, changeTime: last.changed}, nil
	}
	snap := index.Assemble(charts, skipped)
	now := metav1.Now()
	s.catalog.Put(&catalog.Repo{Name: repo.Name, UID: repo.UID, Source: appstore.RepoSource(repo.Spec.Source),
		Index: snap, Digest: sum, Synced: now.Time})
	s.remember(repo, validators{}, now)
	c, v := snap.Counts()
	return &readResult{changed: true, charts: c, versions: v, skipped: snap.Skipped, digest: sum, changeTime: now}, nil
}

// merge is a copy of a with b's entries added: a failed sync's partial read.
func merge(a, b *ociState) *ociState {
	out := &ociState{generation: b.generation, tags: maps.Clone(b.tags), versions: maps.Clone(b.versions)}
	for k, d := range a.tags {
		if _, ok := out.tags[k]; !ok {
			out.tags[k] = d
			if v := a.versions[d]; v != nil {
				out.versions[d] = v
			}
		}
	}
	return out
}

func (s *Syncer) ociStateOf(name string) *ociState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oci[name]
}

func (s *Syncer) setOCIState(name string, st *ociState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == nil {
		delete(s.oci, name)
	} else {
		s.oci[name] = st
	}
}
