// Package istioinstall installs and identifies Istio for the kind and
// cluster targets: it renders the install values template
// (hack/istio/values.yaml.tmpl) for an Istio version, decodes the result
// strictly as an IstioOperator (Istio's own operator types; meshConfig and
// values checked field by field with protojson), runs
// `istioctl install -f` with the istioctl of that version, and reads the
// version an existing cluster runs from its istiod Deployment.
package istioinstall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/template"

	"github.com/firstbyte/firstbyte/fixtures"
	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	iopapis "istio.io/istio/operator/pkg/apis"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Namespace is where Istio's control plane runs.
const Namespace = "istio-system"

// Values are the template's inputs.
type Values struct {
	// Version is the Istio version: images are tagged with it.
	Version string
	// Hub is the image registry path, e.g. docker.io/istio.
	Hub string
}

// Rendered is the install values for one version, as text and decoded.
type Rendered struct {
	YAML     []byte
	Operator *iopapis.IstioOperator
	Mesh     *meshconfig.MeshConfig
	Values   *iopapis.Values
}

// Render renders the values template and decodes it strictly. It also
// checks the settings the suite depends on: ALLOW_ANY outbound traffic,
// access logs to stdout and the image tag of the requested version.
func Render(templatePath string, v Values) (*Rendered, error) {
	text, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, fmt.Errorf("reading the Istio install template: %w", err)
	}
	tmpl, err := template.New(templatePath).Option("missingkey=error").Funcs(template.FuncMap{"quote": strconv.Quote}).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("Istio install template %s: %w", templatePath, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", templatePath, err)
	}
	r, err := Decode(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s rendered for Istio %s: %w", templatePath, v.Version, err)
	}
	if tag := fmt.Sprint(r.Operator.Spec.Tag); tag != v.Version {
		return nil, fmt.Errorf("%s: spec.tag is %q, want the Istio version %q: write tag: {{ .Version | quote }}", templatePath, tag, v.Version)
	}
	if r.Operator.Spec.Hub != v.Hub {
		return nil, fmt.Errorf("%s: spec.hub is %q, want %q: write hub: {{ .Hub }}", templatePath, r.Operator.Spec.Hub, v.Hub)
	}
	if m := r.Mesh.GetOutboundTrafficPolicy().GetMode(); m != meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY {
		return nil, fmt.Errorf("%s: meshConfig.outboundTrafficPolicy.mode is %s: the external server is reached by passthrough, so it must be ALLOW_ANY (scenarios set REGISTRY_ONLY themselves)", templatePath, m)
	}
	if r.Mesh.GetAccessLogFile() != "/dev/stdout" {
		return nil, fmt.Errorf("%s: meshConfig.accessLogFile is %q: the evidence folder reads Envoy's access log from the pod log, so set it to /dev/stdout", templatePath, r.Mesh.GetAccessLogFile())
	}
	return r, nil
}

// Decode decodes an IstioOperator strictly: unknown fields anywhere,
// including inside meshConfig and values, are errors.
func Decode(data []byte) (*Rendered, error) {
	iop := &iopapis.IstioOperator{}
	if err := yaml.UnmarshalStrict(data, iop); err != nil {
		return nil, fmt.Errorf("strict decode as IstioOperator: %w", err)
	}
	if iop.Kind != "IstioOperator" || iop.APIVersion != "install.istio.io/v1alpha1" {
		return nil, fmt.Errorf("kind %q apiVersion %q: want kind: IstioOperator, apiVersion: install.istio.io/v1alpha1", iop.Kind, iop.APIVersion)
	}
	r := &Rendered{YAML: data, Operator: iop, Mesh: &meshconfig.MeshConfig{}, Values: &iopapis.Values{}}
	if len(iop.Spec.MeshConfig) > 0 {
		m, err := fixtures.DecodeMeshConfig(iop.Spec.MeshConfig)
		if err != nil {
			return nil, fmt.Errorf("spec.meshConfig: %w", err)
		}
		r.Mesh = m
	}
	if len(iop.Spec.Values) > 0 {
		if err := protojson.Unmarshal(iop.Spec.Values, r.Values); err != nil {
			return nil, fmt.Errorf("spec.values: strict decode: %w", err)
		}
	}
	return r, nil
}

// Istioctl runs one istioctl binary.
type Istioctl struct {
	// Path is the binary (hack/istioctl.sh downloads hack/bin/istioctl-<version>).
	Path string
	// Version is the version the binary must report.
	Version string
	Out     io.Writer
}

func (i *Istioctl) out() io.Writer {
	if i.Out == nil {
		return io.Discard
	}
	return i.Out
}

// Check verifies the binary exists and is the wanted version.
func (i *Istioctl) Check(ctx context.Context) error {
	if _, err := os.Stat(i.Path); err != nil {
		return fmt.Errorf("istioctl %s: %w: download it with hack/istioctl.sh %s (make e2e does), or set ISTIOCTL to an istioctl %s", i.Path, err, i.Version, i.Version)
	}
	out, err := exec.CommandContext(ctx, i.Path, "version", "--remote=false", "--short").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %w: %s", i.Path, err, bytes.TrimSpace(out))
	}
	if got := strings.TrimSpace(string(out)); !strings.Contains(got, i.Version) {
		return fmt.Errorf("%s is istioctl %s, want %s: run hack/istioctl.sh %s", i.Path, got, i.Version, i.Version)
	}
	return nil
}

// InstallCommand is the istioctl command line Install runs.
func (i *Istioctl) InstallCommand(valuesFile, kubeconfig string) []string {
	return []string{i.Path, "install", "--skip-confirmation", "--kubeconfig", kubeconfig, "-f", valuesFile}
}

// Install runs istioctl install with the rendered values, streaming its
// output.
func (i *Istioctl) Install(ctx context.Context, r *Rendered, kubeconfig string) error {
	f, err := os.CreateTemp("", "firstbyte-istio-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(r.YAML); err != nil {
		f.Close()
		return err
	}
	f.Close()
	args := i.InstallCommand(f.Name(), kubeconfig)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = i.out(), i.out()
	fmt.Fprintf(i.out(), "istio: installing %s\n", i.Version)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("istioctl install %s: %w (see its output above; istioctl x precheck explains most failures)", i.Version, err)
	}
	return nil
}

// ErrNotInstalled is Detect's error for a cluster without istiod.
var ErrNotInstalled = errors.New("this cluster has no Istio")

// Installed is what Detect finds in a cluster.
type Installed struct {
	// Version is the istiod image tag ("" when no istiod runs).
	Version string
	// Image is the istiod image.
	Image string
	// MeshConfigMap is the ConfigMap holding the mesh config.
	MeshConfigMap types.NamespacedName
}

// Detect reads the Istio version a cluster runs from the istiod
// Deployment's image (istio-system/istiod, or istiod-<revision> for a
// revisioned install) and finds the mesh config ConfigMap. A cluster
// without istiod gets an error naming the fix.
func Detect(ctx context.Context, c client.Client) (Installed, error) {
	list := &appsv1.DeploymentList{}
	if err := c.List(ctx, list, client.InNamespace(Namespace), client.MatchingLabels{"app": "istiod"}); err != nil {
		return Installed{}, fmt.Errorf("looking for istiod in %s: %w", Namespace, err)
	}
	var d *appsv1.Deployment
	for i := range list.Items {
		if d == nil || list.Items[i].Name == "istiod" {
			d = &list.Items[i]
		}
	}
	if d == nil {
		return Installed{}, fmt.Errorf("%w: no istiod Deployment (label app=istiod) in %s: install Istio (istioctl install) or use make e2e TARGET=kind, which installs a pinned Istio", ErrNotInstalled, Namespace)
	}
	var in Installed
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name == "discovery" || in.Image == "" {
			in.Image = ct.Image
		}
	}
	in.Version = ImageTag(in.Image)
	cm := "istio"
	if rev := d.Labels["istio.io/rev"]; rev != "" && rev != "default" {
		cm = "istio-" + rev
	}
	in.MeshConfigMap = types.NamespacedName{Namespace: Namespace, Name: cm}
	if err := c.Get(ctx, in.MeshConfigMap, &corev1.ConfigMap{}); err != nil {
		if apierrors.IsNotFound(err) {
			return in, fmt.Errorf("istiod %s runs but the mesh config ConfigMap %s is missing: the install is incomplete", d.Name, in.MeshConfigMap)
		}
		return in, fmt.Errorf("reading %s: %w", in.MeshConfigMap, err)
	}
	return in, nil
}

// ImageTag returns an image reference's tag: "1.29.8" for
// docker.io/istio/pilot:1.29.8, without a digest or "-distroless".
func ImageTag(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	tag := ref[i+1:]
	for _, suffix := range []string{"-distroless", "-debug"} {
		tag = strings.TrimSuffix(tag, suffix)
	}
	return tag
}

// MarshalValues returns the rendered values as indented JSON, for plans.
func (r *Rendered) MarshalValues() string {
	b, _ := json.MarshalIndent(r.Operator.Spec, "", "  ")
	return string(b)
}
