package localenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The App Store's sources (Env.AppStoreRepos): the charts of ChartsDir, packaged at
// start-up, served as a Helm repository over HTTPS (a `local-env serve-repo` process) and
// pushed to a Distribution registry. Both use a serving certificate of the host CA and one
// username/password, made once and kept in appstore/auth.
const (
	// ChartRepoID and RegistryID are the processes' ids (pid and log files).
	ChartRepoID = "host-chart-repo"
	RegistryID  = "host-registry"
	// PrivateChartRepoPath is the repository's second copy, which answers 401 without
	// the App Store credentials.
	PrivateChartRepoPath = "/private/"
	// RegistryRepository is where the charts are pushed: oci://<registry>/charts/<chart>.
	RegistryRepository = "charts"
	// AppStoreOCISecretName is the Secret (in Namespace) a Repo of the registry names.
	AppStoreOCISecretName = "appstore-local-oci"
	// appStoreUser is the one user of both sources.
	appStoreUser = "appstore"
)

var appStoreBinaries = []string{"helm", "registry", "local-env"}

func (e *Env) appStoreDir(parts ...string) string {
	return filepath.Join(append([]string{e.Dir, "appstore"}, parts...)...)
}

// ChartRepoURL is the HTTPS Helm repository (index.yaml and the packaged charts).
func (e *Env) ChartRepoURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(e.Ports.ChartRepo) + "/"
}

// PrivateChartRepoURL is the same repository behind basic auth (AppStoreCredentials).
func (e *Env) PrivateChartRepoURL() string {
	return strings.TrimSuffix(e.ChartRepoURL(), "/") + PrivateChartRepoPath
}

// RegistryHost is the OCI registry's host:port, as `helm registry login` takes it.
func (e *Env) RegistryHost() string { return "127.0.0.1:" + strconv.Itoa(e.Ports.Registry) }

// RegistryURL is the OCI repository the charts are pushed to: oci://<host>/charts, so
// hello is oci://<host>/charts/hello.
func (e *Env) RegistryURL() string { return "oci://" + e.RegistryHost() + "/" + RegistryRepository }

// AppStoreCAFile verifies both sources' serving certificate: it is the host CA.
func (e *Env) AppStoreCAFile() string { return e.pki.cas["host"].CertFile }

// AppStoreCredentials are the username and password the registry and the private
// repository path require. They are made on the first start and kept.
func (e *Env) AppStoreCredentials() (username, password string, err error) {
	data, err := os.ReadFile(e.appStoreDir("auth"))
	if err != nil {
		return "", "", err
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user == "" || pass == "" {
		return "", "", fmt.Errorf("%s: want username:password", e.appStoreDir("auth"))
	}
	return user, pass, nil
}

// AppStoreOCISecret is the credentials Secret of a Repo of the registry, Namespace/
// AppStoreOCISecretName with keys username and password; nothing creates it on the host.
func (e *Env) AppStoreOCISecret() (*corev1.Secret, error) {
	user, pass, err := e.AppStoreCredentials()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: AppStoreOCISecretName, Namespace: Namespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"username": []byte(user), "password": []byte(pass)},
	}, nil
}

// HelmEnv are the HELM_* variables of the environment's Helm: config, cache, data and
// registry logins all under appstore/helm/, never the user's home.
func (e *Env) HelmEnv() []string {
	home := e.appStoreDir("helm")
	return []string{"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"), "HELM_REGISTRY_CONFIG=" + filepath.Join(home, "config", "registry", "config.json")}
}

// HelmCmd is the pinned helm with HelmEnv, not yet started.
func (e *Env) HelmCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(e.BinDir, "helm"), args...)
	cmd.Env = append(os.Environ(), e.HelmEnv()...)
	cmd.Dir = e.Dir
	return cmd
}

// Helm runs the pinned helm with HelmEnv and returns its standard output; the error
// carries its standard error. The login to the registry made at start-up is in
// HELM_REGISTRY_CONFIG: pass --registry-config to act as someone else.
func (e *Env) Helm(ctx context.Context, args ...string) (string, error) {
	return e.helm(ctx, "", args...)
}

func (e *Env) helm(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := e.HelmCmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

func (e *Env) chartsDir() string {
	if e.ChartsDir != "" {
		return e.ChartsDir
	}
	return filepath.Join(filepath.Dir(filepath.Dir(e.BinDir)), "test", "testdata", "charts")
}

// StartAppStoreRepos (re)starts the chart repository and the registry: it packages every
// chart again, rebuilds both indexes and pushes every chart (the registry keeps its
// storage across restarts; a push of a version it holds replaces the tag).
func (e *Env) StartAppStoreRepos(ctx context.Context) error {
	if e.Ports.ChartRepo == 0 || e.Ports.Registry == 0 {
		return errors.New("app store repos: Ports.ChartRepo and Ports.Registry must be set")
	}
	for _, id := range []string{ChartRepoID, RegistryID} {
		if err := e.Stop(id); err != nil {
			return err
		}
	}
	for _, d := range []string{"repo", "private", "registry", "helm"} {
		if err := os.MkdirAll(e.appStoreDir(d), 0o755); err != nil {
			return err
		}
	}
	user, pass, err := e.appStoreAuth()
	if err != nil {
		return err
	}
	cert, key, err := e.pki.cas["host"].issue(filepath.Join(e.Dir, "pki"), "host-appstore-serving", "appstore-repos", nil, nil, true)
	if err != nil {
		return fmt.Errorf("app store certificate: %w", err)
	}
	charts, err := e.packageCharts(ctx)
	if err != nil {
		return err
	}
	if err := e.startWithEnv(nil, "host", strings.TrimPrefix(ChartRepoID, "host-"), "local-env", "serve-repo",
		"--addr=127.0.0.1:"+strconv.Itoa(e.Ports.ChartRepo), "--dir="+e.appStoreDir("repo"),
		"--private-dir="+e.appStoreDir("private"), "--auth-file="+e.appStoreDir("auth"),
		"--cert="+cert, "--key="+key); err != nil {
		return err
	}
	if err := e.startRegistry(cert, key); err != nil {
		return err
	}
	if err := e.waitReady(ctx, ChartRepoID, e.ChartRepoURL()+"index.yaml", 30*time.Second); err != nil {
		return err
	}
	// Go's client sends the URL's user as basic auth: 200 means the login will work too.
	if err := e.waitReady(ctx, RegistryID, "https://"+user+":"+pass+"@"+e.RegistryHost()+"/v2/", 30*time.Second); err != nil {
		return err
	}
	return e.pushCharts(ctx, user, pass, charts)
}

// appStoreAuth reads (or makes) appstore/auth and writes the registry's htpasswd for it.
func (e *Env) appStoreAuth() (user, pass string, err error) {
	if user, pass, err = e.AppStoreCredentials(); err != nil {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		user, pass = appStoreUser, hex.EncodeToString(b)
		if err := os.WriteFile(e.appStoreDir("auth"), []byte(user+":"+pass+"\n"), 0o600); err != nil {
			return "", "", err
		}
	}
	// The lowest cost: the registry checks the hash on every request, and the password
	// is random and local.
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		return "", "", err
	}
	return user, pass, os.WriteFile(e.appStoreDir("htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600)
}

// packageCharts packages every chart directory (one holding Chart.yaml) of ChartsDir into
// appstore/repo and appstore/private and indexes both; it returns the archives.
func (e *Env) packageCharts(ctx context.Context) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(e.chartsDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "Chart.yaml")); err == nil {
				dirs = append(dirs, path)
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("app store charts: %w", err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("app store charts: no chart under %s", e.chartsDir())
	}
	// A fresh folder each time: a chart removed from the tree leaves the index.
	repo, private := e.appStoreDir("repo"), e.appStoreDir("private")
	for _, d := range []string{repo, private} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	args := append([]string{"package", "--destination", repo}, dirs...)
	if _, err := e.Helm(ctx, args...); err != nil {
		return nil, err
	}
	archives, err := filepath.Glob(filepath.Join(repo, "*.tgz"))
	if err != nil {
		return nil, err
	}
	slices.Sort(archives)
	for _, a := range archives {
		data, err := os.ReadFile(a)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(private, filepath.Base(a)), data, 0o644); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, idx := range [][2]string{{repo, e.ChartRepoURL()}, {private, e.PrivateChartRepoURL()}} {
		wg.Go(func() { _, errs[i] = e.Helm(ctx, "repo", "index", idx[0], "--url", idx[1]) })
	}
	wg.Wait()
	return archives, errors.Join(errs...)
}

var registryConfig = template.Must(template.New("registry").Parse(`version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: {{.Root}}
  delete:
    enabled: true
http:
  addr: {{.Addr}}
  tls:
    certificate: {{.Cert}}
    key: {{.Key}}
auth:
  htpasswd:
    realm: kubesphere-local-registry
    path: {{.Htpasswd}}
`))

func (e *Env) startRegistry(cert, key string) error {
	config := e.appStoreDir("registry.yml")
	data := render(registryConfig, map[string]string{"Root": e.appStoreDir("registry"), "Addr": e.RegistryHost(),
		"Cert": cert, "Key": key, "Htpasswd": e.appStoreDir("htpasswd")})
	if err := os.WriteFile(config, []byte(data), 0o644); err != nil {
		return err
	}
	// The registry always sets up OpenTelemetry; with no exporter it dials nothing.
	return e.startWithEnv([]string{"OTEL_TRACES_EXPORTER=none"}, "host", strings.TrimPrefix(RegistryID, "host-"), "registry", "serve", config)
}

// pushCharts logs in to the registry (the login stays in HELM_REGISTRY_CONFIG) and pushes
// every archive to RegistryURL.
func (e *Env) pushCharts(ctx context.Context, user, pass string, archives []string) error {
	ca := e.AppStoreCAFile()
	if _, err := e.helm(ctx, pass, "registry", "login", e.RegistryHost(), "--username", user, "--password-stdin", "--ca-file", ca); err != nil {
		return err
	}
	// Two at a time: the machine may have two cores, shared with the API servers starting.
	var wg sync.WaitGroup
	errs := make([]error, len(archives))
	sem := make(chan struct{}, 2)
	for i, a := range archives {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = e.Helm(ctx, "push", a, e.RegistryURL(), "--ca-file", ca)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("push charts to %s: %w", e.RegistryURL(), err)
	}
	e.logf("%d charts in %s and %s", len(archives), e.ChartRepoURL(), e.RegistryURL())
	return nil
}
