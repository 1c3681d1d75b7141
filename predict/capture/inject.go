package capture

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/firstbyte/firstbyte/predict/generator"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/kube/inject"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// sidecarInjector is Istio's sidecar injector as an installation
// configures it: the injection templates and values of the
// istio-sidecar-injector ConfigMap and the mesh config of the istio
// ConfigMap, rendered from the Helm charts compiled into the istio module.
type sidecarInjector struct {
	config inject.Config
	values inject.ValuesConfig
	mesh   *meshconfig.MeshConfig
	// webhooks are the istio-sidecar-injector MutatingWebhookConfiguration's
	// webhooks: their namespace and object selectors decide which pods the
	// API server sends to the injector at all.
	webhooks []admissionregistrationv1.MutatingWebhook
}

// installFlags render istiod alone, as Istio's own injection tests do
// (pkg/kube/inject: getInjectionSettings). The profile does not change
// what istio-init is given.
var installFlags = []string{"profile=empty", "components.pilot.enabled=true"}

var installedInjector = sync.OnceValues(func() (*sidecarInjector, error) {
	generator.PrepareIstio()
	sets, _, err := render.GenerateManifest(nil, installFlags, false, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("rendering Istio's charts (%v) for the sidecar injector: %w", installFlags, err)
	}
	si := &sidecarInjector{}
	var haveConfig, haveMesh bool
	for _, set := range sets {
		for _, o := range set.Manifests {
			if o.GetKind() == "MutatingWebhookConfiguration" && o.GetName() == "istio-sidecar-injector" {
				var wh admissionregistrationv1.MutatingWebhookConfiguration
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &wh); err != nil {
					return nil, fmt.Errorf("reading the rendered istio-sidecar-injector MutatingWebhookConfiguration: %w", err)
				}
				si.webhooks = wh.Webhooks
				continue
			}
			if o.GetKind() != "ConfigMap" {
				continue
			}
			data, _ := o.Object["data"].(map[string]any)
			switch o.GetName() {
			case "istio-sidecar-injector":
				raw, _ := data["config"].(string)
				values, _ := data["values"].(string)
				if si.config, err = inject.UnmarshalConfig([]byte(raw)); err != nil {
					return nil, fmt.Errorf("reading the rendered istio-sidecar-injector config: %w", err)
				}
				if si.values, err = inject.NewValuesConfig(values); err != nil {
					return nil, fmt.Errorf("reading the rendered istio-sidecar-injector values: %w", err)
				}
				haveConfig = true
			case "istio":
				raw, _ := data["mesh"].(string)
				if si.mesh, err = mesh.ApplyMeshConfig(raw, mesh.DefaultMeshConfig()); err != nil {
					return nil, fmt.Errorf("reading the rendered istio mesh ConfigMap: %w", err)
				}
				haveMesh = true
			}
		}
	}
	if !haveConfig || !haveMesh || len(si.webhooks) == 0 {
		return nil, fmt.Errorf("rendering Istio's charts (%v): no istio-sidecar-injector ConfigMap and MutatingWebhookConfiguration or istio ConfigMap in the output", installFlags)
	}
	return si, nil
})

// initArgs returns the istio-iptables arguments (without the program
// name) that Istio's sidecar injector writes into the istio-init
// container of a pod with these annotations. Annotation values are checked
// with the injector's own validators first, as its webhook does.
func initArgs(annotations map[string]string) ([]string, error) {
	args, _, err := initCommand(annotations)
	return args, err
}

// initCommand is initArgs with the istio-init container's environment
// (plain values): the injector copies the pod's proxyMetadata there, and
// istio-iptables reads some of its options from it
// (ISTIO_META_DNS_CAPTURE turns on its DNS redirect).
func initCommand(annotations map[string]string) ([]string, map[string]string, error) {
	if err := validateAnnotations(annotations); err != nil {
		return nil, nil, err
	}
	si, err := installedInjector()
	if err != nil {
		return nil, nil, err
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default", Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "client", Image: "client"}}},
	}
	var warnings []string
	out, err := inject.IntoObject(nil, si.config.Templates, si.values, "", si.mesh, pod, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		return nil, nil, fmt.Errorf("Istio's sidecar injector rejected annotations %v: %w", annotations, err)
	}
	injected, ok := out.(*corev1.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("Istio's sidecar injector returned %T, want a Pod", out)
	}
	for _, c := range injected.Spec.InitContainers {
		if i := slices.Index(c.Args, "istio-iptables"); i >= 0 {
			return c.Args[i+1:], containerEnv([]corev1.Container{c}, c.Name), nil
		}
	}
	return nil, nil, fmt.Errorf("Istio's sidecar injector gave the pod no istio-iptables init container (warnings: %v): is interception disabled by the annotations %v?", warnings, annotations)
}

func validateAnnotations(annotations map[string]string) error {
	names := make([]string, 0, len(annotations))
	for n := range annotations {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		if v, ok := inject.AnnotationValidation[n]; ok {
			if err := v(annotations[n]); err != nil {
				errs = append(errs, fmt.Errorf("annotation %s: %q is invalid for Istio's injector: %w", n, annotations[n], err))
			}
		}
	}
	return errors.Join(errs...)
}
