// Package app is the cluster-apiserver command: flags, validation and start-up.
package app

import (
	"fmt"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	basecompatibility "k8s.io/component-base/compatibility"
	baseversion "k8s.io/component-base/version"
	netutils "k8s.io/utils/net"

	appstorev1alpha1 "kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	federationv1alpha1 "kubesphere.io/multicluster/apis/federation/v1alpha1"
	clusteropenapi "kubesphere.io/multicluster/generated/openapi"
	"kubesphere.io/multicluster/pkg/apiserver"
	"kubesphere.io/multicluster/pkg/appstore/upload"
	"kubesphere.io/multicluster/pkg/auditlog"
	"kubesphere.io/multicluster/pkg/tunnel"
)

const defaultEtcdPathPrefix = "/registry/clusters.kubesphere.io"

// Options are everything the command line can set.
type Options struct {
	Recommended *genericoptions.RecommendedOptions
	// ComponentGlobals holds the effective version and feature gates.
	ComponentGlobals basecompatibility.ComponentGlobalsRegistry

	// EmbeddedEtcdDataDir is where the embedded etcd keeps its data when no
	// --etcd-servers is given.
	EmbeddedEtcdDataDir string
	// AlternateDNS are extra names for the self-signed serving certificate.
	AlternateDNS []string
	// CredentialsNamespace holds the credentials Secrets of Direct clusters.
	CredentialsNamespace string
	// ShutdownGracePeriod bounds how long long-running requests hold a stopping server.
	ShutdownGracePeriod time.Duration
	// Tower reaches Agent clusters through the tower proxies.
	Tower tunnel.DialerOptions
	// AppStore serves the App Store's API group.
	AppStore bool
	// Federation serves the federation API group.
	Federation bool
	// AppStoreUploadQuota caps the total size of uploaded chart archives.
	AppStoreUploadQuota resource.QuantityValue
}

// storageVersions are the versions objects are stored in, one per group.
var storageVersions = schema.GroupVersions{v1alpha1.SchemeGroupVersion, appstorev1alpha1.SchemeGroupVersion, federationv1alpha1.SchemeGroupVersion}

// NewOptions returns the defaults.
func NewOptions() *Options {
	o := &Options{
		Recommended: genericoptions.NewRecommendedOptions(defaultEtcdPathPrefix,
			apiserver.Codecs.LegacyCodec(storageVersions...)),
		ComponentGlobals:     basecompatibility.NewComponentGlobalsRegistry(),
		EmbeddedEtcdDataDir:  "/var/lib/cluster-apiserver/etcd",
		CredentialsNamespace: clustersapi.DefaultNamespace,
		ShutdownGracePeriod:  5 * time.Second,
		AppStore:             true,
		Federation:           true,
	}
	o.AppStoreUploadQuota.Quantity = *resource.NewQuantity(upload.DefaultQuota, resource.BinarySI)
	// Each group's objects are stored in its own version.
	o.Recommended.Etcd.StorageConfig.EncodeVersioner = storageVersions
	// The server's version is the Kubernetes library version it is built from.
	_, _ = o.ComponentGlobals.ComponentGlobalsOrRegister(basecompatibility.DefaultKubeComponent,
		basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", ""),
		utilfeature.DefaultMutableFeatureGate)
	return o
}

// Flags returns the flags in named sections, so --help reads like kube-apiserver's.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("storage")
	fs.StringVar(&o.EmbeddedEtcdDataDir, "embedded-etcd-data-dir", o.EmbeddedEtcdDataDir,
		"Directory of the embedded etcd, used when --etcd-servers is empty. The embedded etcd "+
			"listens on one ephemeral 127.0.0.1 port only (no peer or metrics port) and accepts "+
			"only cluster-apiserver's own client certificate, made with a new CA at each start "+
			"(in its tls subdirectory, removed on exit); objects survive restarts as long as this "+
			"directory does. For high availability run several replicas against an external etcd "+
			"with --etcd-servers instead.")
	o.Recommended.Etcd.AddFlags(fss.FlagSet("etcd"))
	fss.FlagSet("member clusters").StringVar(&o.CredentialsNamespace, "credentials-namespace", o.CredentialsNamespace,
		"Host namespace of the Secrets that hold Direct clusters' credentials. The server reads "+
			"Secrets in this namespace only; a Cluster whose credentialsSecretRef points elsewhere "+
			"cannot be reached.")
	o.Tower.AddFlags(fss.FlagSet("member clusters"))
	fss.FlagSet("app store").BoolVar(&o.AppStore, "app-store", o.AppStore,
		"Serve the App Store (group appstore.kubesphere.io): one application pool on the host, installed on any member. "+
			"false leaves the group out of discovery and runs none of it; members never serve it.")
	fss.FlagSet("app store").Var(&o.AppStoreUploadQuota, "app-store-upload-quota",
		"Total size of all chart archives uploaded to Upload repos, which are stored in this server's etcd "+
			"(each archive at most 20Mi). An upload beyond it is refused (403) until versions are deleted.")
	fss.FlagSet("federation").BoolVar(&o.Federation, "federation", o.Federation,
		"Serve federation (group federation.kubesphere.io): objects placed on chosen members with per-cluster overrides, "+
			"applied there as the user who asked. false leaves the group out of discovery.")
	fss.FlagSet("lifecycle").DurationVar(&o.ShutdownGracePeriod, "shutdown-grace-period", o.ShutdownGracePeriod,
		"On SIGTERM, how long watches and proxied streams (watch, logs -f, port-forward) may go on "+
			"before the server ends them; their clients reconnect, to another replica. Requests that "+
			"end by themselves are drained as usual. 0 leaves them to the 60 s shutdown timeout.")
	o.Recommended.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	fss.FlagSet("secure serving").StringSliceVar(&o.AlternateDNS, "alternate-dns", o.AlternateDNS,
		"Extra DNS names for the self-signed serving certificate made when no "+
			"--tls-cert-file is given (localhost and 127.0.0.1 are always included).")
	o.Recommended.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.Recommended.Authorization.AddFlags(fss.FlagSet("authorization"))
	o.Recommended.Audit.AddFlags(fss.FlagSet("auditing"))
	o.Recommended.Features.AddFlags(fss.FlagSet("features"))
	o.Recommended.CoreAPI.AddFlags(fss.FlagSet("host cluster"))
	o.Recommended.Admission.AddFlags(fss.FlagSet("admission"))
	o.Recommended.EgressSelector.AddFlags(fss.FlagSet("egress selector"))
	o.Recommended.Traces.AddFlags(fss.FlagSet("traces"))
	o.ComponentGlobals.AddFlags(fss.FlagSet("global"))
	return fss
}

// Embedded reports whether the server runs its own etcd.
func (o *Options) Embedded() bool {
	return len(o.Recommended.Etcd.StorageConfig.Transport.ServerList) == 0
}

// Validate checks the flags before anything starts.
func (o *Options) Validate() error {
	etcd := o.Recommended.Etcd
	servers := etcd.StorageConfig.Transport.ServerList
	if o.Embedded() {
		if o.EmbeddedEtcdDataDir == "" {
			return fmt.Errorf("--embedded-etcd-data-dir must be set when --etcd-servers is empty")
		}
		// The embedded etcd's address is known only once it runs; validate the rest now.
		etcd.StorageConfig.Transport.ServerList = []string{"http://127.0.0.1:0"}
		defer func() { etcd.StorageConfig.Transport.ServerList = servers }()
	}
	errs := o.Recommended.Validate()
	if o.CredentialsNamespace == "" {
		errs = append(errs, fmt.Errorf("--credentials-namespace must not be empty"))
	}
	if o.ShutdownGracePeriod < 0 || o.ShutdownGracePeriod >= time.Minute {
		errs = append(errs, fmt.Errorf("--shutdown-grace-period must be at least 0 and below the 60 s shutdown timeout"))
	}
	if err := o.Tower.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.ComponentGlobals.Validate()...)
	if o.AppStoreUploadQuota.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("--app-store-upload-quota must be above 0"))
	}
	if o.AppStore {
		// appstore-controller acts as users by constrained impersonation only; without it
		// every install would fail with 403, so say so at start-up instead.
		if gate := o.ComponentGlobals.FeatureGateFor(basecompatibility.DefaultKubeComponent); gate != nil && !gate.Enabled(genericfeatures.ConstrainedImpersonation) {
			errs = append(errs, fmt.Errorf("--app-store needs the feature gate ConstrainedImpersonation (appstore-controller acts as users through it): "+
				"enable it or set --app-store=false"))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// Config turns validated options into the server's configuration. With the embedded etcd
// it must be called after the etcd's address was put in the storage options.
func (o *Options) Config() (*apiserver.Config, error) {
	if err := o.Recommended.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", o.AlternateDNS,
		[]net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed serving certificate: %w", err)
	}
	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(clusteropenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIConfig.Info.Title = "cluster-apiserver"
	cfg.OpenAPIConfig.Info.Version = v1alpha1.SchemeGroupVersion.Version
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(clusteropenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIV3Config.Info.Title = "cluster-apiserver"
	cfg.OpenAPIV3Config.Info.Version = v1alpha1.SchemeGroupVersion.Version
	// Config.Complete and admission read these: set them before ApplyTo.
	cfg.FeatureGate = o.ComponentGlobals.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	cfg.EffectiveVersion = o.ComponentGlobals.EffectiveVersionFor(basecompatibility.DefaultKubeComponent)
	if err := o.applyRecommended(cfg); err != nil {
		return nil, err
	}
	extra := apiserver.ExtraConfig{CredentialsNamespace: o.CredentialsNamespace, ShutdownGracePeriod: o.ShutdownGracePeriod,
		AppStore: o.AppStore, AppStoreUploadQuota: o.AppStoreUploadQuota.Value(), Federation: o.Federation}
	// The tower proxies know this server by its host credential.
	if cfg.ClientConfig != nil {
		dialer, err := o.Tower.Dialer(cfg.ClientConfig)
		if err != nil {
			return nil, fmt.Errorf("--tower-proxy-ca-file: %w", err)
		}
		if dialer != nil {
			extra.Agents = dialer
		}
	} else if len(o.Tower.Servers) > 0 {
		return nil, fmt.Errorf("--tower-proxy-servers needs a host kubeconfig (--kubeconfig or in-cluster)")
	}
	return &apiserver.Config{GenericConfig: cfg, ExtraConfig: extra}, nil
}

// applyRecommended is RecommendedOptions.ApplyTo with this server's audit log backend in
// place of upstream's (pkg/auditlog: the same lines, a fraction of the CPU). Upstream
// still builds the policy and any webhook backend.
func (o *Options) applyRecommended(cfg *genericapiserver.RecommendedConfig) error {
	if o.Recommended.Audit == nil {
		return o.Recommended.ApplyTo(cfg)
	}
	logOptions := o.Recommended.Audit.LogOptions
	o.Recommended.Audit.LogOptions.Path = ""
	err := o.Recommended.ApplyTo(cfg)
	o.Recommended.Audit.LogOptions = logOptions
	if err != nil {
		return err
	}
	if cfg.AuditPolicyRuleEvaluator == nil {
		return nil // no policy: upstream records nothing to the log either
	}
	log, err := auditlog.New(&logOptions)
	if err != nil || log == nil {
		return err
	}
	if cfg.AuditBackend != nil {
		log = audit.Union(log, cfg.AuditBackend)
	}
	cfg.AuditBackend = log
	return nil
}
