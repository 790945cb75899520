// Package upload keeps the charts uploaded to the App Store's Upload repos, in the
// server's own etcd: one record per version (the ApplicationVersion as it is served, with
// its review state) and the archive beside it in pieces below etcd's request limit. Every
// cluster-apiserver replica watches the records and turns them into its catalog's
// snapshot of each Upload repo, which the Application and ApplicationVersion views serve.
package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
)

const (
	// chunkSize keeps each stored piece (base64 in JSON: 4/3 of it) well below etcd's
	// default request limit of 1.5 MiB.
	chunkSize = 768 << 10
	// DefaultQuota is the default of the total size of all uploaded archives.
	DefaultQuota = 512 << 20
	// repoUIDAnnotation ties a stored record to the Repo it was made in, so that a Repo
	// re-created under the same name does not inherit the charts of the one deleted.
	// Stored only, never served.
	repoUIDAnnotation = appstore.GroupName + "/repo-uid"
	// archiveAnnotation names the pieces of a record's archive: each upload writes its own,
	// so a failed or concurrent upload never removes the pieces another one points to.
	// Stored only, never served.
	archiveAnnotation = appstore.GroupName + "/archive"
)

// Repos finds Repos (cluster-apiserver's informer lister).
type Repos interface {
	Get(name string) (*v1alpha1.Repo, error)
}

// Config is what a Store is made of.
type Config struct {
	// Records and Chunks are raw etcd storage for ApplicationVersion and ChartChunk
	// objects; RecordsPrefix and ChunksPrefix are their resource prefixes.
	Records, Chunks             storage.Interface
	RecordsPrefix, ChunksPrefix string
	Repos                       Repos
	// ReposSynced reports whether Repos holds every Repo.
	ReposSynced func() bool
	Catalog     *catalog.Catalog
	// Quota caps the total size of all uploaded archives; 0 is DefaultQuota.
	Quota int64
}

// Store is the uploaded charts of every Upload repo.
type Store struct {
	cfg Config

	mu sync.Mutex
	// records are the stored records as this replica last saw them, by name.
	records map[string]*appstore.ApplicationVersion
	// seen is the etcd revision the records are current at; changed is closed when it
	// grows.
	seen    uint64
	changed chan struct{}
	// dirty are the Repos whose snapshot must be built again.
	dirty map[string]bool
	// running is set once the Repos are known: before, nothing is refreshed.
	running bool
}

var versions = appstore.Resource("applicationversions")

// New returns a Store; Run fills it.
func New(cfg Config) *Store {
	if cfg.Quota <= 0 {
		cfg.Quota = DefaultQuota
	}
	return &Store{cfg: cfg, records: map[string]*appstore.ApplicationVersion{}, changed: make(chan struct{}), dirty: map[string]bool{}}
}

func (s *Store) recordKey(name string) string { return s.cfg.RecordsPrefix + "/" + name }

func (s *Store) chunkKey(name, archive string, i int) string {
	return s.cfg.ChunksPrefix + "/" + name + "/" + archive + "/" + strconv.Itoa(i)
}

func userName(ctx context.Context) string {
	if u, ok := request.UserFrom(ctx); ok {
		return u.GetName()
	}
	return ""
}

func resourceVersion(obj runtime.Object) uint64 {
	if v, ok := obj.(*appstore.ApplicationVersion); ok {
		rv, _ := strconv.ParseUint(v.ResourceVersion, 10, 64)
		return rv
	}
	return 0
}

// Create stores a new Draft version in an Upload repo from what a client sent: its name
// and spec.repo, chart and version; everything else is the server's. It returns the
// revision to Wait for.
func (s *Store) Create(ctx context.Context, in *appstore.ApplicationVersion) (uint64, error) {
	repo, err := s.uploadRepo(in.Name, in.Spec.Repo)
	if err != nil {
		return 0, err
	}
	if errs := validateNew(in, repo.Name); len(errs) > 0 {
		return 0, apierrors.NewInvalid(appstore.Kind("ApplicationVersion"), in.Name, errs)
	}
	now := metav1.Now()
	rec := &appstore.ApplicationVersion{
		ObjectMeta: metav1.ObjectMeta{
			Name: in.Name, UID: types.UID(uuid.NewString()), CreationTimestamp: now,
			Annotations: map[string]string{appstore.UploaderAnnotation: userName(ctx), repoUIDAnnotation: string(repo.UID)},
		},
		Spec: appstore.ApplicationVersionSpec{
			Repo: repo.Name, Chart: in.Spec.Chart, Application: repo.Name + "." + in.Spec.Chart, Version: in.Spec.Version,
		},
		Status: appstore.ApplicationVersionStatus{State: appstore.AppStateDraft},
	}
	out := &appstore.ApplicationVersion{}
	if err := s.cfg.Records.Create(ctx, s.recordKey(in.Name), rec, out, 0); err != nil {
		return 0, storeerr.InterpretCreateError(err, versions, in.Name)
	}
	return resourceVersion(out), nil
}

// uploadRepo returns the Upload repo a version name belongs to, or why it cannot hold one.
func (s *Store) uploadRepo(name, specRepo string) (*v1alpha1.Repo, error) {
	repoName, _, _ := strings.Cut(name, ".")
	if specRepo != "" && specRepo != repoName {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.repo %q does not match the name %q: a version's name starts with its Repo's name and a dot", specRepo, name))
	}
	repo, err := s.cfg.Repos.Get(repoName)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(appstore.Resource("repos"), repoName)
	} else if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if repo.Spec.Source != v1alpha1.RepoSourceUpload {
		return nil, apierrors.NewMethodNotSupported(versions, fmt.Sprintf("write: Repo %s is an %s repository, whose versions are read from its source; "+
			"upload charts to a Repo with spec.source Upload", repo.Name, repo.Spec.Source))
	}
	return repo, nil
}

// Upload stores body as the archive of the version named name, in Draft or Rejected. The
// archive must be a chart whose Chart.yaml names the version's chart and version; it
// fills the version's app version, description and digest. It returns the revision to
// Wait for.
func (s *Store) Upload(ctx context.Context, name string, body io.Reader) (uint64, error) {
	if _, err := s.uploadRepo(name, ""); err != nil {
		return 0, err
	}
	rec, err := s.get(ctx, name)
	if err != nil {
		return 0, err
	}
	if err := uploadable(rec); err != nil {
		return 0, err
	}
	data, err := io.ReadAll(io.LimitReader(body, appstore.MaxUploadSize+1))
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("reading the chart archive: %v", err))
	}
	if len(data) > appstore.MaxUploadSize {
		return 0, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("a chart archive may be at most %d MiB", appstore.MaxUploadSize>>20))
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("the body is not a Helm chart archive (.tgz): %v", err))
	}
	if ch.Metadata == nil || ch.Metadata.Name != rec.Spec.Chart || ch.Metadata.Version != rec.Spec.Version {
		got := "no Chart.yaml"
		if ch.Metadata != nil {
			got = fmt.Sprintf("Chart.yaml names %s %s", ch.Metadata.Name, ch.Metadata.Version)
		}
		return 0, apierrors.NewBadRequest(fmt.Sprintf("the archive is not chart %s version %s: %s", rec.Spec.Chart, rec.Spec.Version, got))
	}
	if used := s.used(name); used+int64(len(data)) > s.cfg.Quota {
		return 0, apierrors.NewForbidden(versions, name, fmt.Errorf("the App Store's upload quota is exceeded: %d bytes are used of %d (--app-store-upload-quota), "+
			"and this archive has %d; delete versions no longer needed", used, s.cfg.Quota, len(data)))
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	archive := uuid.NewString()
	written, err := s.writeChunks(ctx, name, archive, data)
	if err != nil {
		s.deleteChunks(name, archive, written)
		return 0, err
	}
	var previous *appstore.ApplicationVersion
	out := &appstore.ApplicationVersion{}
	err = s.cfg.Records.GuaranteedUpdate(ctx, s.recordKey(name), out, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		cur := obj.(*appstore.ApplicationVersion)
		if err := uploadable(cur); err != nil {
			return nil, nil, err
		}
		previous = cur.DeepCopy()
		next := cur.DeepCopy()
		next.Spec.Digest = "sha256:" + digest
		next.Spec.AppVersion, next.Spec.Description, next.Spec.KubeVersion = ch.Metadata.AppVersion, ch.Metadata.Description, ch.Metadata.KubeVersion
		next.Spec.Deprecated = ch.Metadata.Deprecated
		now := metav1.Now()
		next.Spec.Created = &now
		next.Status.ChartSize = int64(len(data))
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[archiveAnnotation] = archive
		return next, nil, nil
	}, nil)
	if err != nil {
		s.deleteChunks(name, archive, written)
		return 0, interpretUpdate(err, name)
	}
	if old := previous.Annotations[archiveAnnotation]; old != "" {
		s.deleteChunks(name, old, chunkCount(previous.Status.ChartSize))
	}
	return resourceVersion(out), nil
}

// uploadable refuses a new archive for a version past review.
func uploadable(rec *appstore.ApplicationVersion) error {
	switch rec.Status.State {
	case appstore.AppStateDraft, appstore.AppStateRejected:
		return nil
	}
	return apierrors.NewConflict(versions, rec.Name, fmt.Errorf("version %s is %s: an archive can be uploaded in Draft or Rejected only "+
		"(upload a new version instead)", rec.Name, rec.Status.State))
}

func chunkCount(size int64) int { return int((size + chunkSize - 1) / chunkSize) }

// writeChunks stores data as the pieces of archive; it returns how many it created.
func (s *Store) writeChunks(ctx context.Context, name, archive string, data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		c := &appstore.ChartChunk{ObjectMeta: metav1.ObjectMeta{Name: name + "." + archive + "." + strconv.Itoa(n)}, Data: data[off:end]}
		if err := s.cfg.Chunks.Create(ctx, s.chunkKey(name, archive, n), c, nil, 0); err != nil {
			return n, apierrors.NewInternalError(fmt.Errorf("storing the archive: %w", err))
		}
		n++
	}
	return n, nil
}

// deleteChunks removes the first n pieces of an archive; one left behind by a failure
// only takes space, never stands for a version.
func (s *Store) deleteChunks(name, archive string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		_ = s.cfg.Chunks.Delete(ctx, s.chunkKey(name, archive, i), &appstore.ChartChunk{}, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{})
	}
}

// Chart returns the uploaded archive of the version named name, verified against its
// digest.
func (s *Store) Chart(ctx context.Context, name string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		rec, err := s.get(ctx, name)
		if err != nil {
			return nil, err
		}
		digest := strings.TrimPrefix(rec.Spec.Digest, "sha256:")
		if digest == "" {
			return nil, apierrors.NewNotFound(appstore.Resource("applicationversions/chart"), name)
		}
		data, err := s.readChunks(ctx, name, rec.Annotations[archiveAnnotation], rec.Status.ChartSize)
		if storage.IsNotFound(err) && attempt == 0 {
			continue // replaced by a new upload since the record was read
		} else if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("reading the archive of %s: %w", name, err))
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
			return nil, apierrors.NewInternalError(fmt.Errorf("the stored archive of %s does not match its digest %s", name, rec.Spec.Digest))
		}
		return data, nil
	}
}

func (s *Store) readChunks(ctx context.Context, name, archive string, size int64) ([]byte, error) {
	data := make([]byte, 0, size)
	for i := 0; int64(len(data)) < size; i++ {
		c := &appstore.ChartChunk{}
		if err := s.cfg.Chunks.Get(ctx, s.chunkKey(name, archive, i), storage.GetOptions{}, c); err != nil {
			return nil, err
		}
		if len(c.Data) == 0 {
			return nil, fmt.Errorf("piece %d of the archive is empty", i)
		}
		data = append(data, c.Data...)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("the archive has %d bytes, its record says %d", len(data), size)
	}
	return data, nil
}

// Delete removes the version named name and its archive. It returns the deleted record and
// the revision to Wait for.
func (s *Store) Delete(ctx context.Context, name string) (*appstore.ApplicationVersion, uint64, error) {
	if _, err := s.uploadRepo(name, ""); err != nil {
		return nil, 0, err
	}
	out := &appstore.ApplicationVersion{}
	if err := s.cfg.Records.Delete(ctx, s.recordKey(name), out, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
		return nil, 0, storeerr.InterpretDeleteError(err, versions, name)
	}
	if a := out.Annotations[archiveAnnotation]; a != "" {
		s.deleteChunks(name, a, chunkCount(out.Status.ChartSize))
	}
	// The deletion's own revision is not known here: wait until this replica's records no
	// longer hold it, so that a read right after the delete does not show it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.waitGone(wctx, name)
	return out, 0, nil
}

// Relabel sets the labels and annotations a user owns on the version named name: all but
// those the server sets.
func (s *Store) Relabel(ctx context.Context, name string, labels, annotations map[string]string) (uint64, error) {
	if _, err := s.uploadRepo(name, ""); err != nil {
		return 0, err
	}
	out := &appstore.ApplicationVersion{}
	err := s.cfg.Records.GuaranteedUpdate(ctx, s.recordKey(name), out, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		next := obj.(*appstore.ApplicationVersion).DeepCopy()
		next.Labels = map[string]string{}
		for k, v := range labels {
			if k != appstore.RepoLabel && k != appstore.AppLabel {
				next.Labels[k] = v
			}
		}
		kept := map[string]string{}
		for _, k := range []string{appstore.UploaderAnnotation, repoUIDAnnotation, archiveAnnotation} {
			if v, ok := next.Annotations[k]; ok {
				kept[k] = v
			}
		}
		next.Annotations = kept
		for k, v := range annotations {
			if _, server := kept[k]; !server && k != repoUIDAnnotation && k != archiveAnnotation {
				next.Annotations[k] = v
			}
		}
		return next, nil, nil
	}, nil)
	if err != nil {
		return 0, interpretUpdate(err, name)
	}
	return resourceVersion(out), nil
}

// Transition makes the review transition action on the version named name, as the
// request's user, with message kept in its record. It returns the revision to Wait for.
func (s *Store) Transition(ctx context.Context, name string, action appstore.ReviewAction, message string) (uint64, error) {
	if _, err := s.uploadRepo(name, ""); err != nil {
		return 0, err
	}
	t, ok := transitions[action]
	if !ok {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("unknown review action %q", action))
	}
	if len(message) > appstore.MaxReviewMessage {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("message: at most %d bytes", appstore.MaxReviewMessage))
	}
	user := userName(ctx)
	out := &appstore.ApplicationVersion{}
	err := s.cfg.Records.GuaranteedUpdate(ctx, s.recordKey(name), out, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		cur := obj.(*appstore.ApplicationVersion)
		if err := t.allowed(cur, action); err != nil {
			return nil, nil, err
		}
		next := cur.DeepCopy()
		next.Status.State = t.to
		next.Status.Reviews = append(next.Status.Reviews, appstore.ReviewRecord{
			Action: action, From: cur.Status.State, To: t.to, User: user, Time: metav1.Now(), Message: message})
		if n := len(next.Status.Reviews); n > appstore.MaxReviews {
			next.Status.Reviews = next.Status.Reviews[n-appstore.MaxReviews:]
		}
		return next, nil, nil
	}, nil)
	if err != nil {
		return 0, interpretUpdate(err, name)
	}
	return resourceVersion(out), nil
}

func (s *Store) get(ctx context.Context, name string) (*appstore.ApplicationVersion, error) {
	rec := &appstore.ApplicationVersion{}
	if err := s.cfg.Records.Get(ctx, s.recordKey(name), storage.GetOptions{}, rec); err != nil {
		return nil, storeerr.InterpretGetError(err, versions, name)
	}
	return rec, nil
}

// interpretUpdate passes on the Status errors of a tryUpdate and turns storage errors
// into Status errors.
func interpretUpdate(err error, name string) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return storeerr.InterpretUpdateError(err, versions, name)
}

// used is the total size of the uploaded archives but that of the version named except.
func (s *Store) used(except string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for name, r := range s.records {
		if name != except {
			n += r.Status.ChartSize
		}
	}
	return n
}

// validateNew checks what a client names of a new version. Its name must be the one the
// views would give it as is ("<repo>.<chart>.<version>", lowercase, each segment a valid
// name), so that the name never depends on the other versions.
func validateNew(v *appstore.ApplicationVersion, repo string) (errs field.ErrorList) {
	spec := field.NewPath("spec")
	chart, version := v.Spec.Chart, v.Spec.Version
	if chart == "" {
		errs = append(errs, field.Required(spec.Child("chart"), "the chart's name, as its Chart.yaml says"))
	} else if chart != strings.ToLower(chart) || len(validation.IsDNS1123Subdomain(chart)) > 0 {
		errs = append(errs, field.Invalid(spec.Child("chart"), chart, "an uploaded chart's name must be lowercase letters, digits, '-' and '.'"))
	}
	if version == "" {
		errs = append(errs, field.Required(spec.Child("version"), "the chart's version, as its Chart.yaml says"))
	} else if version != strings.ToLower(version) || len(validation.IsDNS1123Subdomain(version)) > 0 {
		errs = append(errs, field.Invalid(spec.Child("version"), version, "an uploaded chart's version must be lowercase letters, digits, '-' and '.' (no '+' build metadata)"))
	}
	if len(errs) > 0 {
		return errs
	}
	want := repo + "." + chart + "." + version
	if v.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), v.Name, fmt.Sprintf("an uploaded version is named <repo>.<chart>.<version>: %q", want)))
	} else if len(repo)+1+len(chart)+12 > validation.DNS1123SubdomainMaxLength || len(want) > validation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), v.Name, "the chart and version names are too long for a name"))
	}
	return errs
}
