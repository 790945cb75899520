package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/pkg/federate"
)

func newFederateCommand(host *hostFlags, out io.Writer) *cobra.Command {
	var files, clusters []string
	var selector, namespace string
	var namespacePlacement, apply bool
	cmd := &cobra.Command{
		Use:   "federate -f FILE (--clusters a,b | --selector k=v) [--namespace-placement] [--apply]",
		Short: "Wrap manifests into federated objects placed on member clusters",
		Long: `federate reads manifests (what kubectl apply -f takes, kustomize or helm template output
included) and makes, for each object, a FederatedObject in its namespace (the object's, or
--namespace) or, for a cluster-scoped kind, a ClusterFederatedObject, placed on the clusters
named or selected. It prints them as YAML (kubectl apply -f - takes them), or with --apply
applies them to the host as you (server-side apply, field manager kubectl-ksmc): each
object is then applied to its clusters as you.

--namespace-placement places each namespace the objects are in (a ClusterFederatedObject of
the Namespace) and has the namespaced objects follow it: one placement for the project.`,
		Example: `  kubectl ksmc federate -f deploy.yaml --clusters member1,member2
  kustomize build overlays/prod | kubectl ksmc federate -f - --selector env=prod --namespace-placement --apply
  helm template web ./chart | kubectl ksmc federate -f - --clusters edge-1 | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("-f is required: a file, a directory, or - for stdin")
			}
			o := federate.Options{Clusters: clusters, Namespace: namespace, NamespacePlacement: namespacePlacement}
			if selector != "" {
				sel, err := metav1.ParseToLabelSelector(selector)
				if err != nil {
					return fmt.Errorf("--selector: %w", err)
				}
				o.Selector = sel
			}
			var objs []*unstructured.Unstructured
			for _, f := range files {
				got, err := readManifests(f, cmd.InOrStdin())
				if err != nil {
					return err
				}
				objs = append(objs, got...)
			}
			wrapped, err := federate.Wrap(objs, o)
			if err != nil {
				return err
			}
			if !apply {
				y, err := federate.YAML(wrapped)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(y)
				return err
			}
			return applyAll(cmd, host, wrapped, out)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "Manifests to wrap: files, directories (their .yaml, .yml and .json files) or - for stdin; repeatable.")
	cmd.Flags().StringSliceVar(&clusters, "clusters", nil, "Names of the clusters to place the objects on (comma-separated).")
	cmd.Flags().StringVar(&selector, "selector", "", "Label selector of the Clusters to place the objects on, for example env=prod or 'region in (eu,us)'.")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "Host namespace of namespaced objects that name none (and so their namespace on the members).")
	cmd.Flags().BoolVar(&namespacePlacement, "namespace-placement", false, "Place each namespace and have the namespaced objects follow it.")
	cmd.Flags().BoolVar(&apply, "apply", false, "Apply to the host instead of printing.")
	return cmd
}

// readManifests reads a file, every manifest of a directory, or stdin ("-").
func readManifests(path string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	if path == "-" {
		return federate.Read(stdin)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	paths := []string{path}
	if info.IsDir() {
		paths = nil
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
				paths = append(paths, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(paths)
	}
	var out []*unstructured.Unstructured
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		objs, err := federate.Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// applyAll applies the federated objects to the host, as the user of the host kubeconfig.
func applyAll(cmd *cobra.Command, host *hostFlags, objs []*unstructured.Unstructured, out io.Writer) error {
	cfg, err := host.config()
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	force := true
	for _, o := range objs {
		gvr := v1alpha1.SchemeGroupVersion.WithResource("federatedobjects")
		res := client.Resource(gvr).Namespace(o.GetNamespace())
		if o.GetKind() == "ClusterFederatedObject" {
			res = client.Resource(v1alpha1.SchemeGroupVersion.WithResource("clusterfederatedobjects"))
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := res.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kubectl-ksmc", Force: &force}); err != nil {
			return fmt.Errorf("%s %s: %w", strings.ToLower(o.GetKind()), o.GetName(), err)
		}
		fmt.Fprintf(out, "%s.%s/%s applied\n", strings.ToLower(o.GetKind()), v1alpha1.GroupName, o.GetName())
	}
	return nil
}
